"""Module-level variables of the student module: constants and a dict read by the tests,
a counter that student functions change and the test reads again, and a plain
variable replaced with mock.patch.object (or assigned) that student code then reads."""

import unittest
from unittest import mock

import inventory
from inventory import LIMIT, PRICES, VERSION


class ModuleVariableTest(unittest.TestCase):
    def setUp(self):
        inventory.reset()

    def test_constants_imported_by_name(self):
        self.assertEqual(VERSION, "1.2")
        self.assertEqual(LIMIT, 5)

    def test_dict_constant(self):
        self.assertEqual(PRICES, {"apple": 3, "pear": 4})
        self.assertEqual(inventory.PRICES["pear"], 4)

    def test_counter_changed_by_student_functions_is_read_again(self):
        self.assertEqual(inventory.orders_taken, 0)
        inventory.order("apple", 2)
        inventory.order("pear", 1)
        self.assertEqual(inventory.orders_taken, 2)
        inventory.reset()
        self.assertEqual(inventory.orders_taken, 0)

    def test_order_total_uses_the_prices(self):
        self.assertEqual(inventory.order("apple", 2), 6)


class PatchedVariableTest(unittest.TestCase):
    def setUp(self):
        inventory.reset()

    def test_limit_applies(self):
        with self.assertRaises(ValueError):
            inventory.order("apple", 6)

    def test_patch_object_of_a_plain_variable_changes_what_student_code_reads(self):
        with mock.patch.object(inventory, "LIMIT", 3):
            self.assertEqual(inventory.LIMIT, 3)
            with self.assertRaises(ValueError):
                inventory.order("apple", 4)
        self.assertEqual(inventory.LIMIT, 5)
        self.assertEqual(inventory.order("apple", 4), 12)

    def test_assigning_a_module_variable_is_seen_by_student_code(self):
        original = inventory.PRICES
        inventory.PRICES = {"apple": 10}
        try:
            self.assertEqual(inventory.order("apple", 1), 10)
        finally:
            inventory.PRICES = original
        self.assertEqual(inventory.order("apple", 1), 3)
