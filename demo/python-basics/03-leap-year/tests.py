import unittest

from leap import is_leap


class LeapYearTest(unittest.TestCase):
    def test_year_not_divisible_by_4_is_common(self):
        self.assertIs(is_leap(2023), False, "2023 is not divisible by 4")

    def test_year_divisible_by_4_but_not_100_is_leap(self):
        self.assertIs(is_leap(1996), True, "1996 is divisible by 4 and not by 100")

    def test_recent_leap_year(self):
        self.assertIs(is_leap(2024), True)

    def test_year_divisible_by_100_but_not_400_is_common(self):
        self.assertIs(is_leap(1900), False, "1900 is divisible by 100 but not by 400")

    def test_another_century_that_is_not_leap(self):
        self.assertIs(is_leap(2100), False, "2100 is divisible by 100 but not by 400")

    def test_year_divisible_by_400_is_leap(self):
        self.assertIs(is_leap(2000), True, "2000 is divisible by 400")

    def test_year_divisible_by_200_but_not_400_is_common(self):
        self.assertIs(is_leap(1800), False)


if __name__ == "__main__":
    unittest.main()
