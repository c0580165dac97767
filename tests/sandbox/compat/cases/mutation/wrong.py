# Works on copies: the caller's list, set and the Logbook's list never change
# (the dict is updated, and one function returns instead of changing in place).
def add_item(items, item):
    return items + [item]


def sort_in_place(items):
    return sorted(items)


def count_into(counts, text):
    for char in text:
        counts[char] = counts.get(char, 0) + 1


def tag(tags, new_tags):
    tags = tags | set(new_tags)
    return tags


def leave_alone(items):
    return sorted(items)


class Logbook:
    def __init__(self, lines, index=None):
        self.lines = list(lines)
        self.index = dict(index) if index is not None else None

    def write(self, line):
        if self.index is not None:
            self.index[line] = len(self.lines)
        self.lines.append(line)

    def __len__(self):
        return len(self.lines)
