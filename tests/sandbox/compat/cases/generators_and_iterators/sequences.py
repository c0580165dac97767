def countdown(start):
    while start > 0:
        yield start
        start -= 1


def squares(count):
    for n in range(count):
        yield n * n


def fibonacci():
    a, b = 0, 1
    while True:
        yield a
        a, b = b, a + b


class Countdown:
    def __init__(self, start):
        self.current = start

    def __iter__(self):
        return self

    def __next__(self):
        if self.current <= 0:
            raise StopIteration
        self.current -= 1
        return self.current + 1
