import unittest

from hello import greet


class GreetTest(unittest.TestCase):
    def test_greets_a_person_by_name(self):
        self.assertEqual(greet("Ada"), "Hello, Ada!")

    def test_greets_another_name(self):
        self.assertEqual(greet("Linus"), "Hello, Linus!")

    def test_returns_the_greeting_instead_of_printing_it(self):
        self.assertIsInstance(
            greet("Ada"), str, "greet should return a string; did you use print instead of return?"
        )

    def test_strips_spaces_around_the_name(self):
        self.assertEqual(greet("  Grace "), "Hello, Grace!", "spaces around the name should be removed")

    def test_empty_name_greets_the_world(self):
        self.assertEqual(greet(""), "Hello, world!", "with an empty name, greet 'world'")

    def test_name_of_only_spaces_greets_the_world(self):
        self.assertEqual(greet("   "), "Hello, world!", "a name made only of spaces counts as empty")


if __name__ == "__main__":
    unittest.main()
