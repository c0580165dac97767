import unittest

from roman_numerals import from_roman, to_roman


class ToRomanTest(unittest.TestCase):
    def test_one_is_i(self):
        self.assertEqual(to_roman(1), "I")

    def test_symbols_are_repeated_and_added(self):
        self.assertEqual(to_roman(3), "III")
        self.assertEqual(to_roman(27), "XXVII")

    def test_subtractive_pairs_for_four_and_nine(self):
        self.assertEqual(to_roman(4), "IV", "4 is written IV, not IIII")
        self.assertEqual(to_roman(9), "IX", "9 is written IX, not VIIII")

    def test_subtractive_pairs_for_tens_and_hundreds(self):
        self.assertEqual(to_roman(49), "XLIX")
        self.assertEqual(to_roman(944), "CMXLIV")

    def test_a_year(self):
        self.assertEqual(to_roman(1994), "MCMXCIV")

    def test_largest_supported_number(self):
        self.assertEqual(to_roman(3999), "MMMCMXCIX")

    def test_numbers_out_of_range_raise_value_error(self):
        with self.assertRaises(ValueError, msg="0 has no Roman numeral"):
            to_roman(0)
        with self.assertRaises(ValueError, msg="4000 is above the supported range"):
            to_roman(4000)
        with self.assertRaises(ValueError, msg="negative numbers have no Roman numeral"):
            to_roman(-5)


class FromRomanTest(unittest.TestCase):
    def test_simple_numerals_are_added(self):
        self.assertEqual(from_roman("XVI"), 16)
        self.assertEqual(from_roman("MMXXIV"), 2024)

    def test_subtractive_pairs_are_subtracted(self):
        self.assertEqual(from_roman("MCMXCIV"), 1994, "CM = 900, XC = 90, IV = 4")

    def test_converting_there_and_back(self):
        for number in (1, 14, 40, 99, 444, 1666, 2421, 3888):
            self.assertEqual(from_roman(to_roman(number)), number, f"round trip failed for {number}")


if __name__ == "__main__":
    unittest.main()
