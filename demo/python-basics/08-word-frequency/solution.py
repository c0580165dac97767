import re

WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def count_words_in_file(path):
    """Return a dict of lowercase word counts for the UTF-8 text file at `path`."""
    counts = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            for word in WORD.findall(line.lower()):
                counts[word] = counts.get(word, 0) + 1
    return counts


def top_words(path, n):
    """Return the `n` most frequent (word, count) pairs in the file at `path`.

    Most frequent first; equal counts are ordered alphabetically.
    """
    if n <= 0:
        return []
    pairs = sorted(count_words_in_file(path).items(), key=lambda pair: (-pair[1], pair[0]))
    return pairs[:n]
