def find_anagrams(word, candidates):
    """Return the candidates that are anagrams of `word` (ignoring case),
    in their original order. A word is not its own anagram.
    """
    lowered = word.lower()
    letters = sorted(lowered)
    return [
        candidate
        for candidate in candidates
        if candidate.lower() != lowered and sorted(candidate.lower()) == letters
    ]
