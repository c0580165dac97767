import random
import string

_used = set()


class Robot:
    def __init__(self):
        self.name = self._new_name()

    @staticmethod
    def _new_name():
        while True:
            letters = "".join(random.choices(string.ascii_uppercase, k=2))
            name = f"{letters}{random.randrange(1000):03d}"
            if name not in _used:
                _used.add(name)
                return name

    def reset(self):
        self.name = self._new_name()
