# countdown also yields 0, fibonacci starts at 1, and Countdown hands out a fresh
# iterator (which also reaches 0) instead of being its own iterator.
def countdown(start):
    while start >= 0:
        yield start
        start -= 1


def squares(count):
    for n in range(count):
        yield n * n


def fibonacci():
    a, b = 1, 1
    while True:
        yield a
        a, b = b, a + b


class Countdown:
    def __init__(self, start):
        self.current = start

    def __iter__(self):
        return iter(range(self.current, -1, -1))
