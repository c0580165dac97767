import unittest

from brackets import is_balanced


class IsBalancedTest(unittest.TestCase):
    def test_empty_string_is_balanced(self):
        self.assertIs(is_balanced(""), True)

    def test_a_single_pair(self):
        self.assertIs(is_balanced("()"), True)
        self.assertIs(is_balanced("[]"), True)
        self.assertIs(is_balanced("{}"), True)

    def test_nested_and_side_by_side_pairs(self):
        self.assertIs(is_balanced("{[()()]}[]"), True)

    def test_unclosed_bracket(self):
        self.assertIs(is_balanced("(("), False, "brackets left open at the end make the text unbalanced")

    def test_closing_bracket_without_opener(self):
        self.assertIs(is_balanced("())"), False, "the last ')' has nothing to close")
        self.assertIs(is_balanced(")("), False, "a bracket cannot be closed before it is opened")

    def test_mismatched_pair(self):
        self.assertIs(is_balanced("(]"), False, "'(' must be closed by ')', not ']'")

    def test_pairs_closed_in_the_wrong_order(self):
        self.assertIs(is_balanced("([)]"), False, "'[' is still open when ')' arrives")

    def test_other_characters_are_ignored(self):
        self.assertIs(is_balanced("def f(x): return [x, {1: 2}]"), True)
        self.assertIs(is_balanced("print('hello'"), False, "the '(' is never closed")

    def test_very_deep_nesting(self):
        deep = "(" * 5000 + ")" * 5000
        self.assertIs(is_balanced(deep), True, "5,000 nested pairs are balanced (avoid recursion)")
        self.assertIs(is_balanced(deep + ")"), False)


if __name__ == "__main__":
    unittest.main()
