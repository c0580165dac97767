"""Tests that set their own class attributes: setUpClass storing shared fixtures (a new
attribute, and one declared in the class body), tearDownClass, and a class-level
counter updated by the tests. Honest tests; the old harness calls this tampering."""

import unittest

from phonebook import Phonebook


class PhonebookTest(unittest.TestCase):
    book = None
    lookups = 0

    @classmethod
    def setUpClass(cls):
        cls.book = Phonebook()
        cls.book.add("ada", "555-0100")
        cls.book.add("alan", "555-0199")
        cls.names = ["ada", "alan"]

    @classmethod
    def tearDownClass(cls):
        cls.book = None

    def lookup(self, name):
        type(self).lookups += 1
        return self.book.number(name)

    def test_lookup_a_known_name(self):
        self.assertEqual(self.lookup("ada"), "555-0100")

    def test_unknown_name_is_none(self):
        self.assertIsNone(self.lookup("grace"))

    def test_names_in_order(self):
        self.assertEqual(self.book.names(), self.names)

    def test_prefix_search(self):
        self.assertEqual(self.book.starting_with("al"), ["alan"])


class EmptyPhonebookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.empty = Phonebook()

    def test_empty_book_has_no_names(self):
        self.assertEqual(self.empty.names(), [])
