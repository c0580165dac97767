import unittest

from calculator import evaluate, tokenize


class TokenizeTest(unittest.TestCase):
    def test_tokenize_numbers_operators_and_parentheses(self):
        self.assertEqual(tokenize("3+4*(2-1)"), [3, "+", 4, "*", "(", 2, "-", 1, ")"])

    def test_tokenize_skips_whitespace_and_reads_decimals(self):
        tokens = tokenize("  12.5 /\t4 ")
        self.assertEqual(tokens, [12.5, "/", 4])
        self.assertIsInstance(tokens[2], int, "a number without a decimal part should be an int")

    def test_tokenize_rejects_unknown_characters(self):
        with self.assertRaises(ValueError, msg="'^' is not a supported operator"):
            tokenize("2 ^ 3")
        with self.assertRaises(ValueError, msg="letters are not allowed"):
            tokenize("2 + x")


class EvaluateTest(unittest.TestCase):
    def test_a_single_number(self):
        self.assertEqual(evaluate("42"), 42)
        self.assertEqual(evaluate("2.5"), 2.5)

    def test_multiplication_before_addition(self):
        self.assertEqual(evaluate("2 + 3 * 4"), 14, "* binds tighter than +")
        self.assertEqual(evaluate("20 - 6 / 3"), 18, "/ binds tighter than -")

    def test_same_level_operators_work_left_to_right(self):
        self.assertEqual(evaluate("10 - 4 - 3"), 3, "10 - 4 - 3 means (10 - 4) - 3")
        self.assertEqual(evaluate("100 / 10 / 4"), 2.5, "/ is true division, evaluated left to right")

    def test_parentheses_override_precedence(self):
        self.assertEqual(evaluate("(2 + 3) * 4"), 20)
        self.assertEqual(evaluate("((1 + 2) * (3 + 4)) - 1"), 20)

    def test_unary_minus(self):
        self.assertEqual(evaluate("-5 + 2"), -3)
        self.assertEqual(evaluate("-(3 + 2) * 2"), -10)
        self.assertEqual(evaluate("4 * -2"), -8, "a '-' after an operator negates the next number")

    def test_division_by_zero_raises_zero_division_error(self):
        with self.assertRaises(ZeroDivisionError):
            evaluate("1 / (2 - 2)")

    def test_malformed_expressions_raise_value_error(self):
        for bad in ("", "2 +", "(1 + 2", "1 + 2)", "2 3", "* 2", "()"):
            with self.assertRaises(ValueError, msg=f"{bad!r} is not a valid expression"):
                evaluate(bad)


if __name__ == "__main__":
    unittest.main()
