"""Student classes: constructors, methods, properties, class attributes, class and
static methods, isinstance against imported classes, inheritance between student classes."""

import unittest

from shapes import Rectangle, Shape, Square


class ShapeTest(unittest.TestCase):
    def test_constructor_stores_its_arguments(self):
        rectangle = Rectangle(3, 4)
        self.assertEqual(rectangle.width, 3)
        self.assertEqual(rectangle.height, 4)

    def test_method_returns_a_value(self):
        self.assertEqual(Rectangle(3, 4).area(), 12)
        self.assertEqual(Rectangle(3, 4).scaled(2).area(), 48)

    def test_property_is_computed_from_the_fields(self):
        rectangle = Rectangle(3, 4)
        self.assertEqual(rectangle.perimeter, 14)
        rectangle.width = 10
        self.assertEqual(rectangle.perimeter, 28)

    def test_class_attribute_is_shared_and_read_on_the_class(self):
        self.assertEqual(Rectangle.sides, 4)
        self.assertEqual(Rectangle(1, 2).sides, 4)
        self.assertEqual(Shape.sides, 0)

    def test_classmethod_builds_an_instance(self):
        rectangle = Rectangle.from_string("5x7")
        self.assertIsInstance(rectangle, Rectangle)
        self.assertEqual((rectangle.width, rectangle.height), (5, 7))

    def test_staticmethod_is_callable_on_the_class_and_an_instance(self):
        self.assertTrue(Rectangle.is_valid_size(3))
        self.assertFalse(Rectangle.is_valid_size(-1))
        self.assertFalse(Rectangle(1, 1).is_valid_size(0))

    def test_isinstance_against_the_imported_class(self):
        self.assertIsInstance(Rectangle(1, 2), Rectangle)
        self.assertNotIsInstance(Rectangle(1, 2), Square)
        self.assertNotIsInstance("1x2", Rectangle)

    def test_subclass_instance_is_an_instance_of_its_base(self):
        square = Square(3)
        self.assertIsInstance(square, Square)
        self.assertIsInstance(square, Rectangle)
        self.assertIsInstance(square, Shape)
        self.assertTrue(issubclass(Square, Rectangle))

    def test_overridden_method_of_the_subclass_is_used(self):
        self.assertEqual(Square(3).area(), 9)
        self.assertEqual(Square(3).describe(), "a square with side 3")
        self.assertEqual(Rectangle(2, 3).describe(), "a 2 by 3 rectangle")

    def test_invalid_size_raises(self):
        with self.assertRaises(ValueError):
            Rectangle(-1, 2)
