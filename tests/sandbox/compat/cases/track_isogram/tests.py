"""Exercise track, isogram: string handling checked over a subTest table."""

import unittest

from isogram import is_isogram


class IsogramTest(unittest.TestCase):
    def test_empty_string(self):
        self.assertIs(is_isogram(""), True)

    def test_isograms(self):
        for word in [
            "isogram",
            "lumberjacks",
            "background",
            "six-year-old",
            "Emily Jung Schwartzkopf",
        ]:
            with self.subTest(word=word):
                self.assertIs(is_isogram(word), True)

    def test_not_isograms(self):
        for word in ["eleven", "zzyzx", "Alphabet", "accentor", "up-to-date"]:
            with self.subTest(word=word):
                self.assertIs(is_isogram(word), False)

    def test_duplicated_character_in_the_middle(self):
        self.assertIs(is_isogram("characterization"), False)
