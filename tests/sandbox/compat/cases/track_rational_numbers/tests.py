"""Exercise track, rational-numbers: operators between student objects (+ - * /), with
abs() and ** (a rational to an int power, a number to a rational power), reduction
to lowest terms checked through == and the numer/denom attributes."""

import unittest

from rational_numbers import Rational


class RationalArithmeticTest(unittest.TestCase):
    def test_add_two_positive_rationals(self):
        self.assertEqual(Rational(1, 2) + Rational(2, 3), Rational(7, 6))

    def test_add_to_opposite_is_zero(self):
        self.assertEqual(Rational(1, 2) + Rational(-1, 2), Rational(0, 1))

    def test_subtract(self):
        self.assertEqual(Rational(1, 2) - Rational(2, 3), Rational(-1, 6))

    def test_multiply(self):
        self.assertEqual(Rational(-1, 2) * Rational(2, 3), Rational(-1, 3))

    def test_divide(self):
        self.assertEqual(Rational(1, 2) / Rational(2, 3), Rational(3, 4))


class RationalFormTest(unittest.TestCase):
    def test_reduced_to_lowest_terms(self):
        self.assertEqual(Rational(2, 4), Rational(1, 2))
        self.assertEqual(Rational(2, 4).numer, 1)
        self.assertEqual(Rational(2, 4).denom, 2)

    def test_negative_denominator_is_normalised(self):
        self.assertEqual(Rational(3, -4).numer, -3)
        self.assertEqual(Rational(3, -4).denom, 4)

    def test_zero_is_zero_over_one(self):
        self.assertEqual(Rational(0, -5).denom, 1)

    def test_repr(self):
        self.assertEqual(repr(Rational(-6, 8)), "-3/4")


class RationalPowerTest(unittest.TestCase):
    def test_absolute_value(self):
        self.assertEqual(abs(Rational(-1, 2)), Rational(1, 2))
        self.assertEqual(abs(Rational(1, -2)), Rational(1, 2))

    def test_raise_to_a_positive_int(self):
        self.assertEqual(Rational(-2, 3) ** 3, Rational(-8, 27))

    def test_raise_to_a_negative_int(self):
        self.assertEqual(Rational(2, 5) ** -2, Rational(25, 4))

    def test_raise_a_number_to_a_rational(self):
        self.assertAlmostEqual(8 ** Rational(4, 3), 16.0, places=8)
        self.assertAlmostEqual(9 ** Rational(-1, 2), 0.3333333333, places=8)
