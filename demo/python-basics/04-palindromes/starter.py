def reverse(text):
    """Return `text` with its characters in reverse order."""
    pass


def is_palindrome(text):
    """Return True if `text` reads the same both ways.

    Case and characters that are not letters or digits are ignored.
    """
    pass
