def find_anagrams(word, candidates):
    """Return the candidates that are anagrams of `word` (ignoring case),
    in their original order. A word is not its own anagram.
    """
    return []
