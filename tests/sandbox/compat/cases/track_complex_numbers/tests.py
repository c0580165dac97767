"""Exercise track, complex-numbers: a student number class with real/imaginary
attributes, arithmetic between objects and with ints on either side, abs(), conjugate
and exp() checked with assertAlmostEqual on the attributes."""

import math
import unittest

from complex_numbers import ComplexNumber


class ComplexNumberTest(unittest.TestCase):
    def assertComplexAlmostEqual(self, number, real, imaginary):
        self.assertAlmostEqual(number.real, real)
        self.assertAlmostEqual(number.imaginary, imaginary)

    def test_real_and_imaginary_parts(self):
        number = ComplexNumber(1, 2)
        self.assertEqual(number.real, 1)
        self.assertEqual(number.imaginary, 2)

    def test_add(self):
        self.assertEqual(ComplexNumber(1, 2) + ComplexNumber(3, 4), ComplexNumber(4, 6))

    def test_subtract(self):
        self.assertEqual(ComplexNumber(1, 2) - ComplexNumber(3, 4), ComplexNumber(-2, -2))

    def test_multiply(self):
        self.assertEqual(ComplexNumber(1, 2) * ComplexNumber(3, 4), ComplexNumber(-5, 10))

    def test_divide(self):
        self.assertComplexAlmostEqual(ComplexNumber(1, 2) / ComplexNumber(3, 4), 0.44, 0.08)

    def test_add_an_int_on_either_side(self):
        self.assertEqual(ComplexNumber(1, 2) + 5, ComplexNumber(6, 2))
        self.assertEqual(5 + ComplexNumber(1, 2), ComplexNumber(6, 2))

    def test_multiply_by_an_int_on_either_side(self):
        self.assertEqual(ComplexNumber(2, 5) * 5, ComplexNumber(10, 25))
        self.assertEqual(5 * ComplexNumber(2, 5), ComplexNumber(10, 25))

    def test_subtract_from_an_int(self):
        self.assertEqual(4 - ComplexNumber(5, 7), ComplexNumber(-1, -7))

    def test_absolute_value(self):
        self.assertEqual(abs(ComplexNumber(3, 4)), 5)
        self.assertEqual(abs(ComplexNumber(-5, 0)), 5)

    def test_conjugate(self):
        self.assertEqual(ComplexNumber(5, -7).conjugate(), ComplexNumber(5, 7))

    def test_euler_identity(self):
        self.assertComplexAlmostEqual(ComplexNumber(0, math.pi).exp(), -1, 0)

    def test_exp_of_a_real_number(self):
        self.assertComplexAlmostEqual(ComplexNumber(1, 0).exp(), math.e, 0)
