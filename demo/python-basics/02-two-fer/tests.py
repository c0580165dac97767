import unittest

from two_fer import two_fer


class TwoFerTest(unittest.TestCase):
    def test_without_a_name_uses_you(self):
        self.assertEqual(two_fer(), "One for you, one for me.", "with no name, use 'you'")

    def test_with_a_name(self):
        self.assertEqual(two_fer("Alice"), "One for Alice, one for me.")

    def test_with_another_name(self):
        self.assertEqual(two_fer("Bob"), "One for Bob, one for me.")

    def test_name_given_as_keyword_argument(self):
        self.assertEqual(
            two_fer(name="Zaphod"), "One for Zaphod, one for me.", "the parameter should be called 'name'"
        )


if __name__ == "__main__":
    unittest.main()
