"""Generators and iterators returned by student code: next(), list(), for loops,
StopIteration at the end, an infinite generator cut with itertools.islice in the
test, and a student class implementing the iterator protocol."""

import itertools
import types
import unittest

from sequences import Countdown, countdown, fibonacci, squares


class GeneratorTest(unittest.TestCase):
    def test_generator_function_returns_a_generator(self):
        self.assertIsInstance(countdown(3), types.GeneratorType)

    def test_next_steps_through_the_values(self):
        numbers = countdown(3)
        self.assertEqual(next(numbers), 3)
        self.assertEqual(next(numbers), 2)
        self.assertEqual(next(numbers), 1)

    def test_exhausted_generator_raises_stop_iteration(self):
        numbers = countdown(1)
        next(numbers)
        with self.assertRaises(StopIteration):
            next(numbers)
        self.assertEqual(next(numbers, "done"), "done")

    def test_list_of_a_generator(self):
        self.assertEqual(list(squares(5)), [0, 1, 4, 9, 16])
        self.assertEqual(list(squares(0)), [])

    def test_for_loop_over_a_generator(self):
        seen = []
        for value in countdown(4):
            seen.append(value)
        self.assertEqual(seen, [4, 3, 2, 1])

    def test_infinite_generator_consumed_with_islice(self):
        self.assertEqual(list(itertools.islice(fibonacci(), 10)), [0, 1, 1, 2, 3, 5, 8, 13, 21, 34])

    def test_generator_in_sum_and_comprehension(self):
        self.assertEqual(sum(squares(4)), 14)
        self.assertEqual([n * 2 for n in countdown(2)], [4, 2])


class IteratorClassTest(unittest.TestCase):
    def test_iterator_protocol_by_hand(self):
        iterator = iter(Countdown(2))
        self.assertEqual(next(iterator), 2)
        self.assertEqual(next(iterator), 1)
        with self.assertRaises(StopIteration):
            next(iterator)

    def test_iterator_class_in_a_for_loop(self):
        self.assertEqual([n for n in Countdown(3)], [3, 2, 1])

    def test_iterator_is_its_own_iterator(self):
        iterator = Countdown(5)
        self.assertIs(iter(iterator), iterator)
        next(iterator)
        self.assertEqual(list(iterator), [4, 3, 2, 1])
