"""A frozen dataclass used as set members and dict keys, and an Enum: members,
values, lookup by name and value, iteration over the class, identity of members."""

import dataclasses
import unittest

from solution import Color, Point, next_color, unique_points


class PointTest(unittest.TestCase):
    def test_fields_and_generated_repr_and_eq(self):
        point = Point(1, 2)
        self.assertEqual((point.x, point.y), (1, 2))
        self.assertEqual(point, Point(1, 2))
        self.assertEqual(repr(point), "Point(x=1, y=2)")

    def test_equal_points_collapse_in_a_set(self):
        points = {Point(1, 2), Point(1, 2), Point(2, 1)}
        self.assertEqual(len(points), 2)
        self.assertIn(Point(2, 1), points)

    def test_point_as_a_dict_key(self):
        names = {Point(0, 0): "origin"}
        self.assertEqual(names[Point(0, 0)], "origin")

    def test_frozen_point_cannot_be_changed(self):
        with self.assertRaises(dataclasses.FrozenInstanceError):
            Point(1, 2).x = 5

    def test_student_returns_a_set_of_points(self):
        result = unique_points([(1, 2), (1, 2), (3, 4)])
        self.assertEqual(result, {Point(1, 2), Point(3, 4)})


class ColorTest(unittest.TestCase):
    def test_member_name_and_value(self):
        self.assertEqual(Color.RED.name, "RED")
        self.assertEqual(Color.RED.value, 1)

    def test_lookup_by_value_and_by_name(self):
        self.assertEqual(Color(2), Color.GREEN)
        self.assertEqual(Color["BLUE"], Color.BLUE)

    def test_iterating_the_enum_lists_its_members_in_order(self):
        self.assertEqual([color.name for color in Color], ["RED", "GREEN", "BLUE"])
        self.assertEqual(len(Color), 3)

    def test_members_are_instances_of_the_enum(self):
        self.assertIsInstance(Color.RED, Color)

    def test_next_color_cycles(self):
        self.assertEqual(next_color(Color.RED), Color.GREEN)
        self.assertEqual(next_color(Color.BLUE), Color.RED)

    def test_members_are_singletons(self):
        self.assertIs(next_color(Color.GREEN), Color.BLUE)
        self.assertIs(Color(1), Color.RED)
