import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    x: int
    y: int


def unique_points(pairs):
    return {Point(x, y) for x, y in pairs}


class Color(enum.Enum):
    RED = 1
    GREEN = 2
    BLUE = 3


def next_color(color):
    members = list(Color)
    return members[(members.index(color) + 1) % len(members)]
