"""Plain values of every kind returned by student code arrive as themselves: None, bool,
big ints, floats (nan, inf, -0.0), complex, non-ASCII str, bytes, bytearray, nested
containers, Decimal, Fraction, datetime types with tzinfo, Counter, OrderedDict,
defaultdict(list), deque, a student-defined namedtuple, range."""

import collections
import datetime
import math
import unittest
from decimal import Decimal
from fractions import Fraction

import solution


class ScalarTest(unittest.TestCase):
    def test_none(self):
        self.assertIsNone(solution.nothing())

    def test_bools_are_bools(self):
        self.assertIs(solution.is_even(4), True)
        self.assertIs(solution.is_even(3), False)

    def test_big_int(self):
        self.assertEqual(solution.power_of_two(200), 2**200)
        self.assertEqual(solution.power_of_two(200) - 1, 2**200 - 1)
        self.assertEqual(solution.power_of_two(-1), 0.5)

    def test_negative_big_int(self):
        self.assertEqual(-solution.power_of_two(100), -(2**100))
        self.assertIs(type(solution.power_of_two(100)), int)

    def test_float_close_to_expected(self):
        self.assertAlmostEqual(solution.mean([0.1, 0.2]), 0.15)
        self.assertAlmostEqual(solution.mean([1, 2, 2]), 1.67, places=2)

    def test_nan_and_infinities(self):
        self.assertTrue(math.isnan(solution.ratio(0.0, 0.0)))
        self.assertEqual(solution.ratio(1.0, 0.0), math.inf)
        self.assertEqual(solution.ratio(-1.0, 0.0), float("-inf"))

    def test_negative_zero_keeps_its_sign(self):
        zero = solution.negative_zero()
        self.assertEqual(zero, 0.0)
        self.assertEqual(math.copysign(1.0, zero), -1.0)

    def test_complex(self):
        self.assertEqual(solution.root_of_minus(4), 2j)
        self.assertEqual(solution.root_of_minus(4).imag, 2.0)

    def test_non_ascii_and_emoji_text(self):
        self.assertEqual(solution.shout("naïve café"), "NAÏVE CAFÉ!")
        self.assertEqual(solution.shout("日本語"), "日本語!")
        self.assertEqual(solution.snake(3), "🐍🐍🐍")
        self.assertEqual(len(solution.snake(3)), 3)

    def test_bytes_and_bytearray(self):
        self.assertEqual(solution.encode("é"), b"\xc3\xa9")
        self.assertIsInstance(solution.encode("é"), bytes)
        buffer = solution.buffer(3)
        self.assertIsInstance(buffer, bytearray)
        self.assertEqual(buffer, bytearray(b"\x00\x01\x02"))


class ContainerTest(unittest.TestCase):
    def test_nested_containers(self):
        self.assertEqual(
            solution.nested(),
            {"list": [1, [2, 3]], "tuple": (1, (2, "x")), "set": {1, 2}, "frozen": frozenset({3})},
        )

    def test_tuple_is_not_a_list(self):
        self.assertIsInstance(solution.nested()["tuple"], tuple)
        self.assertEqual(solution.pair(), (1, 2))
        self.assertNotEqual(solution.pair(), [1, 2])

    def test_dict_with_int_and_tuple_keys(self):
        self.assertEqual(solution.keyed(), {1: "one", (2, 3): "pair", None: "none"})

    def test_set_of_frozensets(self):
        self.assertEqual(solution.groups(), {frozenset({1, 2}), frozenset()})

    def test_range(self):
        self.assertEqual(solution.evens(10), range(0, 10, 2))
        self.assertEqual(list(solution.evens(10)), [0, 2, 4, 6, 8])
        self.assertEqual(len(solution.evens(10)), 5)


class StdlibValueTest(unittest.TestCase):
    def test_decimal(self):
        self.assertEqual(solution.price_with_tax(Decimal("10.00")), Decimal("12.10"))
        self.assertEqual(str(solution.price_with_tax(Decimal("10.00"))), "12.10")

    def test_fraction(self):
        self.assertEqual(solution.third(), Fraction(1, 3))
        self.assertEqual(solution.third() * 3, 1)

    def test_aware_datetime(self):
        moment = solution.launch()
        self.assertEqual(
            moment, datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc)
        )
        self.assertEqual(moment.tzinfo, datetime.timezone.utc)
        self.assertEqual(moment.isoformat(), "2024-05-01T12:30:00+00:00")

    def test_date_time_and_timedelta(self):
        self.assertEqual(solution.launch_day(), datetime.date(2024, 5, 1))
        self.assertEqual(
            solution.launch_time(), datetime.time(12, 30, tzinfo=datetime.timezone.utc)
        )
        self.assertEqual(solution.countdown(), datetime.timedelta(days=1, seconds=90))
        self.assertEqual(solution.countdown().total_seconds(), 86490.0)

    def test_counter(self):
        counts = solution.letter_counts("banana")
        self.assertEqual(counts, collections.Counter({"a": 3, "n": 2, "b": 1}))
        self.assertEqual(counts.most_common(1), [("a", 3)])
        self.assertEqual(counts["z"], 0)

    def test_ordered_dict(self):
        ordered = solution.ordered()
        self.assertIsInstance(ordered, collections.OrderedDict)
        self.assertEqual(list(ordered), ["z", "a", "m"])

    def test_defaultdict_of_lists(self):
        groups = solution.by_length(["a", "bb", "cc"])
        self.assertIsInstance(groups, collections.defaultdict)
        self.assertEqual(groups, {1: ["a"], 2: ["bb", "cc"]})
        self.assertEqual(groups[3], [])

    def test_deque(self):
        recent = solution.last_three([1, 2, 3, 4, 5])
        self.assertEqual(recent, collections.deque([3, 4, 5]))
        self.assertEqual(recent.maxlen, 3)

    def test_namedtuple_from_the_student(self):
        result = solution.origin_shift(1, 2)
        self.assertEqual(result.x, 1)
        self.assertEqual(result.y, 2)
        self.assertEqual(result, (1, 2))
        x, y = result
        self.assertEqual((x, y), (1, 2))
