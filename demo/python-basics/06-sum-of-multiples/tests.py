import unittest

from sum_of_multiples import sum_of_multiples


class SumOfMultiplesTest(unittest.TestCase):
    def test_multiples_of_three_and_five_below_ten(self):
        self.assertEqual(sum_of_multiples(10, [3, 5]), 23, "3 + 5 + 6 + 9 = 23")

    def test_a_single_factor(self):
        self.assertEqual(sum_of_multiples(20, [7]), 21, "7 + 14 = 21")

    def test_limit_itself_is_not_included(self):
        self.assertEqual(sum_of_multiples(15, [5]), 15, "only 5 and 10 are below 15")

    def test_shared_multiples_are_counted_once(self):
        self.assertEqual(
            sum_of_multiples(16, [3, 5]), 60, "15 is a multiple of both 3 and 5 but must be added only once"
        )

    def test_no_factors_gives_zero(self):
        self.assertEqual(sum_of_multiples(100, []), 0)

    def test_factor_larger_than_limit_has_no_multiples(self):
        self.assertEqual(sum_of_multiples(10, [11]), 0)

    def test_factor_zero_is_ignored(self):
        self.assertEqual(sum_of_multiples(10, [0, 3]), 18, "a factor of 0 has no positive multiples")

    def test_larger_limit(self):
        self.assertEqual(sum_of_multiples(1000, [3, 5]), 233168)


if __name__ == "__main__":
    unittest.main()
