# A mutable dataclass whose instances hash by identity, and a next_color that
# stops at the last member and returns a fresh string-valued stand-in for others.
import enum
from dataclasses import dataclass


@dataclass(eq=False)
class Point:
    x: int
    y: int

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    __hash__ = object.__hash__


def unique_points(pairs):
    return {Point(x, y) for x, y in pairs}


class Color(enum.Enum):
    RED = 1
    GREEN = 2
    BLUE = 3


def next_color(color):
    if color is Color.BLUE:
        return Color.BLUE
    return Color(color.value + 1).name
