"""Exercise track, clock: a student class compared with ==, shown with str/repr, and
given minutes with + and - (returning new clocks); module named ``clock``."""

import unittest

from clock import Clock


class ClockCreationTest(unittest.TestCase):
    def test_on_the_hour(self):
        self.assertEqual(str(Clock(8, 0)), "08:00")

    def test_past_the_hour(self):
        self.assertEqual(str(Clock(11, 9)), "11:09")

    def test_hour_rolls_over(self):
        self.assertEqual(str(Clock(25, 0)), "01:00")

    def test_sixty_minutes_is_next_hour(self):
        self.assertEqual(str(Clock(1, 60)), "02:00")

    def test_negative_hour_and_minutes(self):
        self.assertEqual(str(Clock(-1, -15)), "22:45")

    def test_repr_is_a_constructor_call(self):
        self.assertEqual(repr(Clock(7, 32)), "Clock(7, 32)")


class ClockArithmeticTest(unittest.TestCase):
    def test_add_minutes(self):
        self.assertEqual(str(Clock(10, 0) + 3), "10:03")

    def test_add_across_midnight(self):
        self.assertEqual(str(Clock(23, 59) + 2), "00:01")

    def test_subtract_minutes(self):
        self.assertEqual(str(Clock(10, 3) - 3), "10:00")

    def test_subtract_across_midnight(self):
        self.assertEqual(str(Clock(0, 3) - 4), "23:59")

    def test_adding_returns_a_new_clock(self):
        clock = Clock(10, 0)
        later = clock + 30
        self.assertEqual(clock, Clock(10, 0))
        self.assertEqual(later, Clock(10, 30))


class ClockEqualityTest(unittest.TestCase):
    def test_clocks_with_same_time(self):
        self.assertEqual(Clock(15, 37), Clock(15, 37))

    def test_clocks_a_minute_apart(self):
        self.assertNotEqual(Clock(15, 36), Clock(15, 37))

    def test_clocks_with_hour_overflow(self):
        self.assertEqual(Clock(10, 37), Clock(34, 37))

    def test_clocks_with_negative_minutes_that_wrap(self):
        self.assertEqual(Clock(2, 40), Clock(3, -20))
