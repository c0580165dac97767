"""Exercise track, word-count: a function returning a dict, compared whole with
assertDictEqual and through a subTest table."""

import unittest

from word_count import count_words


class WordCountTest(unittest.TestCase):
    def test_count_one_word(self):
        self.assertEqual(count_words("word"), {"word": 1})

    def test_count_one_of_each_word(self):
        self.assertEqual(count_words("one of each"), {"one": 1, "of": 1, "each": 1})

    def test_multiple_occurrences_of_a_word(self):
        self.assertDictEqual(
            count_words("one fish two fish red fish blue fish"),
            {"one": 1, "fish": 4, "two": 1, "red": 1, "blue": 1},
        )

    def test_normalize_case_and_ignore_punctuation(self):
        self.assertEqual(count_words("Go! go, GO: stop."), {"go": 3, "stop": 1})

    def test_with_apostrophes_and_quotes(self):
        cases = [
            (
                "'First: don't laugh. Then: don't cry.'",
                {"first": 1, "don't": 2, "laugh": 1, "then": 1, "cry": 1},
            ),
            (
                "Joe can't tell between 'large' and large.",
                {"joe": 1, "can't": 1, "tell": 1, "between": 1, "large": 2, "and": 1},
            ),
        ]
        for sentence, expected in cases:
            with self.subTest(sentence=sentence):
                self.assertEqual(count_words(sentence), expected)

    def test_numbers_and_separators(self):
        self.assertEqual(count_words("1,2\t3\n1"), {"1": 2, "2": 1, "3": 1})
