import contextlib


class Recorder:
    def __init__(self):
        self.notes = []
        self.open = False

    def note(self, text):
        self.notes.append(text)

    def __enter__(self):
        self.open = True
        self.notes.append("start")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.open = False
        self.notes.append("end" if exc_type is None else f"error {exc_type.__name__}")
        return False


@contextlib.contextmanager
def suppressing(kind):
    log = []
    try:
        yield log
    except kind as exc:
        log.append(f"suppressed {type(exc).__name__}")


def make_counter(start=0):
    count = start

    def counter(step=1):
        nonlocal count
        count += step
        return count

    return counter


def memoize(function):
    cache = {}

    def wrapper(argument):
        if argument not in cache:
            cache[argument] = function(argument)
        return cache[argument]

    return wrapper
