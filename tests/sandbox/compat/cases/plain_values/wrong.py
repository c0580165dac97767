# Every value is a near miss: the wrong type, a lost sign, a truncated int, a naive
# datetime, an unordered or plain container.
import datetime
import math


def nothing():
    return ""


def is_even(n):
    return int(n % 2 == 0)


def power_of_two(n):
    return float(2**n)


def mean(values):
    return round(sum(values) / len(values), 1)


def ratio(a, b):
    if b == 0:
        return 0.0
    return a / b


def negative_zero():
    return 0.0


def root_of_minus(n):
    return math.sqrt(n)


def shout(text):
    return text.encode("ascii", "replace").decode().upper() + "!"


def snake(n):
    return ":snake:" * n


def encode(text):
    return text.encode("latin-1")


def buffer(n):
    return bytes(range(n))


def nested():
    return {"list": [1, [2, 3]], "tuple": [1, [2, "x"]], "set": [1, 2], "frozen": {3}}


def pair():
    return [1, 2]


def keyed():
    return {"1": "one", "(2, 3)": "pair", "None": "none"}


def groups():
    return [[1, 2], []]


def evens(stop):
    return list(range(0, stop, 2))


def price_with_tax(price):
    return float(price) * 1.21


def third():
    return 1 / 3


def launch():
    return datetime.datetime(2024, 5, 1, 12, 30)


def launch_day():
    return "2024-05-01"


def launch_time():
    return datetime.time(12, 30)


def countdown():
    return 86490


def letter_counts(text):
    return {char: text.count(char) for char in set(text)}


def ordered():
    return {"a": 2, "m": 3, "z": 1}


def by_length(words):
    groups = {}
    for word in words:
        groups.setdefault(len(word), []).append(word)
    return groups


def last_three(values):
    return list(values)[-3:]


def origin_shift(x, y):
    return {"x": x, "y": y}
