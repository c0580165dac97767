"""Everyday unittest features around student code: setUp/tearDown, self.maxDiff = None,
subTest loops, the assert helpers (CountEqual, DictEqual, SequenceEqual, In, IsNone,
Is(True, ...), Greater, AlmostEqual(places=2)), a helper method on the TestCase, a
mixin base class contributing tests, and two TestCase classes in one module."""

import unittest

from stats import Tally, describe, median, mode, normalise


class SharedChecks:
    """Tests every tally class must pass; mixed into the TestCases below."""

    def make(self):
        """The tally under test: each TestCase that mixes these checks in says which."""
        raise NotImplementedError

    def test_empty_total_is_zero(self):
        self.assertEqual(self.make().total(), 0)

    def test_added_values_are_counted(self):
        tally = self.make()
        tally.add("x")
        tally.add("x")
        self.assertEqual(tally.count("x"), 2)


class TallyTest(SharedChecks, unittest.TestCase):
    def make(self):
        return Tally()

    def setUp(self):
        self.maxDiff = None
        self.tally = Tally()
        for word in ["b", "a", "b", "c", "b"]:
            self.tally.add(word)
        self.log = ["set up"]

    def tearDown(self):
        self.log.append("torn down")
        self.assertEqual(self.log, ["set up", "torn down"])

    def assertTally(self, tally, expected):
        """A helper on the TestCase: compare a tally with a dict of counts."""
        self.assertDictEqual(tally.as_dict(), expected)
        self.assertEqual(tally.total(), sum(expected.values()))

    def test_helper_method_checks_the_whole_tally(self):
        self.assertTally(self.tally, {"a": 1, "b": 3, "c": 1})

    def test_most_common_first(self):
        self.assertSequenceEqual(self.tally.ranking(), ["b", "a", "c"])

    def test_assert_count_equal_ignores_order(self):
        self.assertCountEqual(self.tally.words(), ["c", "b", "a"])

    def test_membership(self):
        self.assertIn("a", self.tally.words())
        self.assertNotIn("z", self.tally.words())

    def test_unknown_word_has_no_count(self):
        self.assertIsNone(self.tally.get("z"))
        self.assertEqual(self.tally.count("z"), 0)

    def test_contains_is_a_real_bool(self):
        self.assertIs(True, self.tally.has("b"))
        self.assertIs(False, self.tally.has("z"))


class StatsTest(unittest.TestCase):
    def test_median_of_several_lists(self):
        cases = [([1], 1), ([3, 1, 2], 2), ([4, 1, 3, 2], 2.5), ([5, 5, 1], 5)]
        for values, expected in cases:
            with self.subTest(values=values):
                self.assertEqual(median(values), expected)

    def test_mode(self):
        for values, expected in [([1, 1, 2], 1), ([3], 3), ([2, 3, 3, 2, 2], 2)]:
            with self.subTest(values=values):
                self.assertEqual(mode(values), expected)

    def test_normalised_values(self):
        self.assertAlmostEqual(sum(normalise([1, 2, 3])), 1.0, places=2)
        self.assertAlmostEqual(normalise([1, 2])[0], 0.33, places=2)

    def test_describe_summary(self):
        summary = describe([2, 4, 9])
        self.assertGreater(summary["max"], summary["min"])
        self.assertGreaterEqual(summary["mean"], 5)
        self.assertLess(summary["min"], 3)
        self.assertDictEqual(summary, {"min": 2, "max": 9, "mean": 5, "count": 3})
