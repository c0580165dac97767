import collections
import datetime
import math
from decimal import Decimal
from fractions import Fraction

Position = collections.namedtuple("Position", ["x", "y"])


def nothing():
    return None


def is_even(n):
    return n % 2 == 0


def power_of_two(n):
    return 2**n


def mean(values):
    return sum(values) / len(values)


def ratio(a, b):
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a)
    return a / b


def negative_zero():
    return -0.0


def root_of_minus(n):
    return complex(0, math.sqrt(n))


def shout(text):
    return text.upper() + "!"


def snake(n):
    return "\N{SNAKE}" * n


def encode(text):
    return text.encode("utf-8")


def buffer(n):
    return bytearray(range(n))


def nested():
    return {"list": [1, [2, 3]], "tuple": (1, (2, "x")), "set": {1, 2}, "frozen": frozenset({3})}


def pair():
    return (1, 2)


def keyed():
    return {1: "one", (2, 3): "pair", None: "none"}


def groups():
    return {frozenset({1, 2}), frozenset()}


def evens(stop):
    return range(0, stop, 2)


def price_with_tax(price):
    return (price * Decimal("1.21")).quantize(Decimal("0.01"))


def third():
    return Fraction(1, 3)


def launch():
    return datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)


def launch_day():
    return launch().date()


def launch_time():
    return launch().timetz()


def countdown():
    return datetime.timedelta(days=1, seconds=90)


def letter_counts(text):
    return collections.Counter(text)


def ordered():
    return collections.OrderedDict([("z", 1), ("a", 2), ("m", 3)])


def by_length(words):
    groups = collections.defaultdict(list)
    for word in words:
        groups[len(word)].append(word)
    return groups


def last_three(values):
    return collections.deque(values, maxlen=3)


def origin_shift(x, y):
    return Position(x, y)
