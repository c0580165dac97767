# No __all__ (so a star import also brings internal), a module __getattr__ that
# answers every name, and a callable GREETING.
GREETING = "hi"


def _helper(a, b):
    return a + b


def add(a, b):
    return _helper(a, b)


def internal():
    return "not exported"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return None
