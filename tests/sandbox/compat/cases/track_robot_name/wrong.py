# Lowercase letters, and a name made up afresh on every read.
import random
import string


class Robot:
    @property
    def name(self):
        return (
            "".join(random.choices(string.ascii_lowercase, k=2)) + f"{random.randrange(1000):03d}"
        )

    def reset(self):
        pass
