def reverse(text):
    """Return `text` with its characters in reverse order."""
    return text[::-1]


def is_palindrome(text):
    """Return True if `text` reads the same both ways, ignoring case and punctuation."""
    cleaned = [ch.lower() for ch in text if ch.isalnum()]
    return cleaned == cleaned[::-1]
