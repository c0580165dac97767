import unittest

from fizzbuzz import fizzbuzz


class FizzBuzzTest(unittest.TestCase):
    def test_first_five_numbers(self):
        self.assertEqual(fizzbuzz(5), ["1", "2", "Fizz", "4", "Buzz"])

    def test_zero_gives_an_empty_list(self):
        self.assertEqual(fizzbuzz(0), [], "there are no numbers from 1 to 0")

    def test_list_has_one_entry_per_number(self):
        self.assertEqual(len(fizzbuzz(42)), 42, "fizzbuzz(n) must contain exactly n entries")

    def test_plain_numbers_are_strings(self):
        self.assertEqual(fizzbuzz(1), ["1"], "numbers must be returned as strings, e.g. '1' not 1")

    def test_multiple_of_three_only_is_fizz(self):
        self.assertEqual(fizzbuzz(9)[8], "Fizz", "9 is divisible by 3")

    def test_multiple_of_five_only_is_buzz(self):
        self.assertEqual(fizzbuzz(10)[9], "Buzz", "10 is divisible by 5")

    def test_multiple_of_fifteen_is_fizzbuzz(self):
        self.assertEqual(fizzbuzz(30)[29], "FizzBuzz", "30 is divisible by both 3 and 5")

    def test_first_fifteen_numbers(self):
        expected = [
            "1", "2", "Fizz", "4", "Buzz", "Fizz", "7", "8",
            "Fizz", "Buzz", "11", "Fizz", "13", "14", "FizzBuzz",
        ]
        self.assertEqual(fizzbuzz(15), expected)


if __name__ == "__main__":
    unittest.main()
