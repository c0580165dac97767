def is_balanced(text):
    """Return True if all (), [] and {} brackets in `text` are properly matched."""
    pass
