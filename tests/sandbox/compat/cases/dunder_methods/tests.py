"""Dunder methods the tests use on student objects: == between two of them, repr/str,
len, iteration, indexing, ``in``, sorting by ``__lt__``, arithmetic with objects and ints."""

import unittest

from vectors import Polyline, Vector


class VectorTest(unittest.TestCase):
    def test_equal_objects_compare_equal(self):
        self.assertEqual(Vector(1, 2), Vector(1, 2))
        self.assertNotEqual(Vector(1, 2), Vector(2, 1))
        self.assertNotEqual(Vector(1, 2), Vector(1, 3))
        self.assertTrue(Vector(0, 0) == Vector(0, 0))
        self.assertFalse(Vector(0, 0) != Vector(0, 0))

    def test_object_is_not_equal_to_a_plain_tuple(self):
        self.assertNotEqual(Vector(1, 2), (1, 2))

    def test_repr_and_str(self):
        self.assertEqual(repr(Vector(1, -2)), "Vector(1, -2)")
        self.assertEqual(str(Vector(1, -2)), "(1, -2)")
        self.assertEqual(f"{Vector(3, 4)}", "(3, 4)")

    def test_add_and_subtract_two_objects(self):
        self.assertEqual(Vector(1, 2) + Vector(3, 4), Vector(4, 6))
        self.assertEqual(Vector(1, 2) - Vector(3, 4), Vector(-2, -2))

    def test_multiply_by_an_int_on_either_side(self):
        self.assertEqual(Vector(1, 2) * 3, Vector(3, 6))
        self.assertEqual(3 * Vector(1, 2), Vector(3, 6))

    def test_multiply_two_objects_is_the_dot_product(self):
        self.assertEqual(Vector(1, 2) * Vector(3, 4), 11)

    def test_abs_and_bool(self):
        self.assertEqual(abs(Vector(3, 4)), 5.0)
        self.assertFalse(Vector(0, 0))
        self.assertTrue(Vector(0, 1))


class PolylineTest(unittest.TestCase):
    def setUp(self):
        self.line = Polyline([Vector(0, 0), Vector(3, 4), Vector(3, 0)])

    def test_len(self):
        self.assertEqual(len(self.line), 3)
        self.assertEqual(len(Polyline([])), 0)

    def test_iteration_yields_the_points(self):
        self.assertEqual(list(self.line), [Vector(0, 0), Vector(3, 4), Vector(3, 0)])
        xs = [point.x for point in self.line]
        self.assertEqual(xs, [0, 3, 3])

    def test_getitem(self):
        self.assertEqual(self.line[1], Vector(3, 4))
        self.assertEqual(self.line[-1], Vector(3, 0))

    def test_getitem_out_of_range_raises_index_error(self):
        with self.assertRaises(IndexError):
            self.line[3]

    def test_contains(self):
        self.assertIn(Vector(3, 4), self.line)
        self.assertNotIn(Vector(4, 3), self.line)
        self.assertNotIn(Vector(3, 3), self.line)

    def test_sorting_a_list_of_objects_uses_lt(self):
        points = [Vector(3, 0), Vector(0, 1), Vector(2, 2), Vector(0, 0)]
        self.assertEqual(sorted(points), [Vector(0, 0), Vector(0, 1), Vector(2, 2), Vector(3, 0)])
        self.assertLess(Vector(0, 5), Vector(1, 0))
        self.assertEqual(min(points), Vector(0, 0))

    def test_length_uses_the_points(self):
        self.assertEqual(self.line.length(), 9.0)
