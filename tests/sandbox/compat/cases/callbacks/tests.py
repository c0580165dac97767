"""Callbacks from the tests called by student code: a lambda, a plain function, a bound
method of the TestCase, a unittest.mock.Mock (checked with call_args_list), keyword
arguments, and a callback whose return value the student code uses."""

import unittest
from unittest import mock

from events import Emitter, apply_each, retry, transform


def double(value):
    return value * 2


class CallbackTest(unittest.TestCase):
    def test_lambda_result_is_used(self):
        self.assertEqual(transform([1, 2, 3], lambda n: n + 10), [11, 12, 13])

    def test_plain_function_result_is_used(self):
        self.assertEqual(transform(["a", "b"], double), ["aa", "bb"])

    def test_function_is_called_with_each_item(self):
        seen = []
        apply_each([3, 1, 2], seen.append)
        self.assertEqual(seen, [3, 1, 2])

    def test_keyword_arguments_reach_the_callback(self):
        calls = []

        def record(item, *, index, total):
            calls.append((item, index, total))

        apply_each(["x", "y"], record, with_position=True)
        self.assertEqual(calls, [("x", 0, 2), ("y", 1, 2)])

    def test_value_returned_by_the_callback_is_used(self):
        answers = iter([False, False, True])
        self.assertEqual(retry(lambda: next(answers), attempts=5), 3)

    def test_callback_that_never_succeeds(self):
        self.assertIsNone(retry(lambda: False, attempts=2))


class EmitterTest(unittest.TestCase):
    def setUp(self):
        self.received = []

    def on_event(self, name, payload=None):
        self.received.append((name, payload))

    def test_mock_records_every_call(self):
        listener = mock.Mock()
        emitter = Emitter()
        emitter.subscribe("saved", listener)
        emitter.emit("saved", 1)
        emitter.emit("saved", 2, source="disk")
        emitter.emit("deleted", 3)
        self.assertEqual(listener.call_args_list, [mock.call(1), mock.call(2, source="disk")])
        listener.assert_called_with(2, source="disk")
        self.assertEqual(listener.call_count, 2)

    def test_mock_return_value_is_collected(self):
        listener = mock.Mock(return_value="ok")
        emitter = Emitter()
        emitter.subscribe("ping", listener)
        self.assertEqual(emitter.emit("ping"), ["ok"])
        listener.assert_called_once_with()

    def test_bound_method_of_the_test_case(self):
        emitter = Emitter()
        emitter.subscribe("saved", lambda payload: self.on_event("saved", payload))
        emitter.subscribe("closed", self.on_event)
        emitter.emit("saved", {"id": 7})
        emitter.emit("closed", "closed", payload="bye")
        self.assertEqual(self.received, [("saved", {"id": 7}), ("closed", "bye")])
