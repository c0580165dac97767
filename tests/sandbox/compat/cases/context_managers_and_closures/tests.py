"""Student objects the tests use as tools: a context manager class and a
contextlib.contextmanager function in ``with`` (suppressing an exception or not),
returned closures that keep state, and a student decorator wrapping a test function."""

import unittest

from tools import Recorder, make_counter, memoize, suppressing


class ContextManagerTest(unittest.TestCase):
    def test_with_binds_the_entered_object_and_closes_it(self):
        recorder = Recorder()
        with recorder as entered:
            entered.note("inside")
            self.assertTrue(recorder.open)
        self.assertFalse(recorder.open)
        self.assertEqual(recorder.notes, ["start", "inside", "end"])

    def test_exception_in_the_block_reaches_the_test(self):
        recorder = Recorder()
        with self.assertRaises(KeyError):
            with recorder:
                raise KeyError("boom")
        self.assertEqual(recorder.notes, ["start", "error KeyError"])

    def test_generator_context_manager_suppresses_the_named_exception(self):
        with suppressing(ZeroDivisionError) as log:
            1 / 0
        self.assertEqual(log, ["suppressed ZeroDivisionError"])

    def test_generator_context_manager_lets_others_through(self):
        with self.assertRaises(ValueError):
            with suppressing(ZeroDivisionError):
                raise ValueError("not suppressed")


class ClosureTest(unittest.TestCase):
    def test_returned_function_keeps_its_state(self):
        counter = make_counter(start=10)
        self.assertEqual(counter(), 11)
        self.assertEqual(counter(), 12)
        self.assertEqual(counter(step=5), 17)

    def test_two_closures_are_independent(self):
        first, second = make_counter(), make_counter()
        first()
        first()
        self.assertEqual(second(), 1)
        self.assertTrue(callable(first))

    def test_decorator_wraps_a_test_function(self):
        calls = []

        def square(n):
            calls.append(n)
            return n * n

        fast_square = memoize(square)
        self.assertEqual(fast_square(4), 16)
        self.assertEqual(fast_square(4), 16)
        self.assertEqual(fast_square(5), 25)
        self.assertEqual(calls, [4, 5])
