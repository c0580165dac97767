# Case-sensitive and counts hyphens and spaces.
def is_isogram(string):
    return len(string) == len(set(string))
