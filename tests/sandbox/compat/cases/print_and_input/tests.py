"""print() in student code seen by the tests through contextlib.redirect_stdout and
through mock.patch("builtins.print"); input() in student code answered by
mock.patch("builtins.input", side_effect=[...])."""

import contextlib
import io
import unittest
from unittest import mock

from greeter import ask_sum, greet, report


class PrintTest(unittest.TestCase):
    def test_print_captured_with_redirect_stdout(self):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            greet("Ada")
        self.assertEqual(out.getvalue(), "Hello, Ada!\n")

    def test_print_captured_with_a_patched_print(self):
        with mock.patch("builtins.print") as fake_print:
            greet("Grace")
        fake_print.assert_called_with("Hello, Grace!")

    def test_several_prints_in_order(self):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            report({"b": 2, "a": 1})
        self.assertEqual(out.getvalue(), "a: 1\nb: 2\ntotal 3\n")

    def test_print_with_sep_and_end(self):
        with mock.patch("builtins.print") as fake_print:
            report({"x": 5})
        self.assertEqual(
            fake_print.call_args_list,
            [mock.call("x", 5, sep=": "), mock.call("total", 5, end="\n")],
        )

    def test_return_value_alongside_printing(self):
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(greet("Ada"), 11)


class InputTest(unittest.TestCase):
    def test_input_patched_with_a_side_effect_list(self):
        with mock.patch("builtins.input", side_effect=["2", "40"]):
            with contextlib.redirect_stdout(io.StringIO()) as out:
                total = ask_sum(2)
        self.assertEqual(total, 42)
        self.assertEqual(out.getvalue(), "The sum is 42\n")

    def test_prompt_is_passed_to_input(self):
        with mock.patch("builtins.input", side_effect=["1", "2", "3"]) as fake_input:
            with contextlib.redirect_stdout(io.StringIO()):
                ask_sum(3)
        self.assertEqual(
            fake_input.call_args_list,
            [mock.call("Number 1: "), mock.call("Number 2: "), mock.call("Number 3: ")],
        )

    def test_invalid_input_raises_value_error(self):
        with mock.patch("builtins.input", return_value="two"):
            with self.assertRaises(ValueError):
                ask_sum(1)
