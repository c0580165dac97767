import inspect
import itertools
import unittest

from primes import nth_prime, primes


class PrimesGeneratorTest(unittest.TestCase):
    def test_primes_is_a_generator_function(self):
        self.assertTrue(inspect.isgeneratorfunction(primes), "primes should use 'yield'")

    def test_first_ten_primes(self):
        self.assertEqual(list(itertools.islice(primes(), 10)), [2, 3, 5, 7, 11, 13, 17, 19, 23, 29])

    def test_next_gives_one_prime_at_a_time(self):
        gen = primes()
        self.assertEqual(next(gen), 2)
        self.assertEqual(next(gen), 3)
        self.assertEqual(next(gen), 5)

    def test_each_call_starts_a_fresh_sequence(self):
        first = primes()
        next(first)
        next(first)
        self.assertEqual(next(primes()), 2, "a new generator must start again at 2")
        self.assertEqual(next(first), 5, "the first generator keeps its own position")

    def test_generator_keeps_going(self):
        gen = primes()
        thousandth = next(itertools.islice(gen, 999, None))
        self.assertEqual(thousandth, 7919, "the 1000th prime is 7919")
        self.assertEqual(next(gen), 7927, "the generator continues after the 1000th prime")

    def test_squares_of_primes_are_skipped(self):
        below_200 = list(itertools.takewhile(lambda p: p < 200, primes()))
        for square in (4, 9, 25, 49, 121, 169):
            self.assertNotIn(square, below_200, f"{square} is not prime")
        self.assertEqual(len(below_200), 46, "there are 46 primes below 200")


class NthPrimeTest(unittest.TestCase):
    def test_first_prime_is_two(self):
        self.assertEqual(nth_prime(1), 2, "counting starts at 1")

    def test_sixth_prime(self):
        self.assertEqual(nth_prime(6), 13)

    def test_thousandth_prime(self):
        self.assertEqual(nth_prime(1000), 7919)

    def test_zero_or_negative_raises_value_error(self):
        with self.assertRaises(ValueError, msg="there is no 0th prime"):
            nth_prime(0)
        with self.assertRaises(ValueError):
            nth_prime(-3)


if __name__ == "__main__":
    unittest.main()
