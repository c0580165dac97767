# Does not normalise the hour, adds in place, and compares the raw arguments.
class Clock:
    def __init__(self, hour, minute):
        self.hour = hour + minute // 60
        self.minute = minute % 60

    def __repr__(self):
        return f"Clock({self.hour}, {self.minute})"

    def __str__(self):
        return f"{self.hour:02d}:{self.minute:02d}"

    def __eq__(self, other):
        return (self.hour, self.minute) == (other.hour, other.minute)

    def __add__(self, minutes):
        total = self.hour * 60 + self.minute + minutes
        self.hour, self.minute = total // 60, total % 60
        return self

    def __sub__(self, minutes):
        return self + -minutes
