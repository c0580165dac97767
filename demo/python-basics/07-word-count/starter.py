def word_count(text):
    """Return a dict mapping each lowercase word in `text` to its count."""
    counts = {}
    return counts
