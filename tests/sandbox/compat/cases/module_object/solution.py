__all__ = ["add", "GREETING"]

GREETING = "hi"


def _helper(a, b):
    return a + b


def add(a, b):
    return _helper(a, b)


def internal():
    return "not exported"
