import unittest

from palindrome import is_palindrome, reverse


class ReverseTest(unittest.TestCase):
    def test_reverses_a_word(self):
        self.assertEqual(reverse("stressed"), "desserts")

    def test_reverse_of_empty_string_is_empty(self):
        self.assertEqual(reverse(""), "", "reversing nothing gives nothing")

    def test_reverse_keeps_spaces_and_punctuation(self):
        self.assertEqual(reverse("Hi, you!"), "!uoy ,iH", "every character must be kept")


class IsPalindromeTest(unittest.TestCase):
    def test_simple_palindrome(self):
        self.assertIs(is_palindrome("racecar"), True)

    def test_word_that_is_not_a_palindrome(self):
        self.assertIs(is_palindrome("python"), False)

    def test_ignores_letter_case(self):
        self.assertIs(is_palindrome("RaceCar"), True, "upper and lower case letters count as equal")

    def test_ignores_spaces_and_punctuation(self):
        self.assertIs(
            is_palindrome("A man, a plan, a canal: Panama!"),
            True,
            "only letters and digits should be compared",
        )

    def test_empty_string_is_a_palindrome(self):
        self.assertIs(is_palindrome(""), True)

    def test_single_character_is_a_palindrome(self):
        self.assertIs(is_palindrome("x"), True)

    def test_digits_are_compared_too(self):
        self.assertIs(is_palindrome("12321"), True)
        self.assertIs(is_palindrome("12 3"), False, "'12 3' compares as '123', which is not a palindrome")


if __name__ == "__main__":
    unittest.main()
