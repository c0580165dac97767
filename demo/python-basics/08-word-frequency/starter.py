def count_words_in_file(path):
    """Return a dict of lowercase word counts for the UTF-8 text file at `path`."""
    return {}


def top_words(path, n):
    """Return the `n` most frequent (word, count) pairs in the file at `path`.

    Most frequent first; equal counts are ordered alphabetically.
    """
    return []
