"""The student module as an object: ``import solution`` and attribute access,
``from solution import *`` (honouring ``__all__``), ``solution.__name__``,
``hasattr`` of a missing name being False, ``getattr`` by name, ``callable``."""

import unittest

import solution
from solution import *  # noqa: F403


class ModuleObjectTest(unittest.TestCase):
    def test_module_name(self):
        self.assertEqual(solution.__name__, "solution")

    def test_star_import_brings_the_public_names(self):
        self.assertEqual(add(2, 3), 5)  # noqa: F405
        self.assertEqual(GREETING, "hi")  # noqa: F405

    def test_star_import_honours_all(self):
        self.assertNotIn("_helper", globals())
        self.assertNotIn("internal", globals())

    def test_hasattr_of_a_missing_name_is_false(self):
        self.assertFalse(hasattr(solution, "missing"))
        self.assertTrue(hasattr(solution, "add"))

    def test_getattr_by_name(self):
        self.assertEqual(getattr(solution, "add")(1, 1), 2)
        self.assertEqual(getattr(solution, "GREETING"), "hi")
        self.assertEqual(getattr(solution, "missing", "default"), "default")

    def test_missing_attribute_raises_attribute_error(self):
        with self.assertRaises(AttributeError):
            solution.missing

    def test_functions_are_callable(self):
        self.assertTrue(callable(solution.add))
        self.assertFalse(callable(solution.GREETING))
