# __exit__ swallows every exception, suppressing() swallows everything, the counter
# state is shared by all counters, and memoize does not cache.
import contextlib

_count = [0]


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
        self.notes.append("end")
        return True


@contextlib.contextmanager
def suppressing(kind):
    log = []
    try:
        yield log
    except Exception as exc:
        log.append(f"suppressed {type(exc).__name__}")


def make_counter(start=0):
    _count[0] = max(_count[0], start)

    def counter(step=1):
        _count[0] += step
        return _count[0]

    return counter


def memoize(function):
    return function
