import unittest

from word_count import word_count


class WordCountTest(unittest.TestCase):
    def test_a_single_word(self):
        self.assertEqual(word_count("hello"), {"hello": 1})

    def test_each_word_once(self):
        self.assertEqual(word_count("one fish two"), {"one": 1, "fish": 1, "two": 1})

    def test_repeated_words_are_counted(self):
        self.assertEqual(word_count("red fish blue fish"), {"red": 1, "fish": 2, "blue": 1})

    def test_counting_ignores_case(self):
        self.assertEqual(word_count("Go GO go"), {"go": 3}, "words differing only in case are the same word")

    def test_punctuation_separates_words(self):
        self.assertEqual(
            word_count("stop! look, listen... then:go"),
            {"stop": 1, "look": 1, "listen": 1, "then": 1, "go": 1},
            "punctuation is not part of a word",
        )

    def test_apostrophes_inside_words_are_kept(self):
        self.assertEqual(word_count("don't panic, it's fine"), {"don't": 1, "panic": 1, "it's": 1, "fine": 1})

    def test_quotes_around_words_are_removed(self):
        self.assertEqual(
            word_count("'hello' she said 'hello'"),
            {"hello": 2, "she": 1, "said": 1},
            "quotes around a word are not part of it",
        )

    def test_numbers_are_words(self):
        self.assertEqual(word_count("1 fish 2 fish 2"), {"1": 1, "fish": 2, "2": 2})

    def test_tabs_and_newlines_separate_words(self):
        self.assertEqual(word_count("a\tb\nb   a\n\n"), {"a": 2, "b": 2})

    def test_text_without_words_gives_empty_dict(self):
        self.assertEqual(word_count(""), {})
        self.assertEqual(word_count(" ,.!? "), {}, "punctuation alone contains no words")


if __name__ == "__main__":
    unittest.main()
