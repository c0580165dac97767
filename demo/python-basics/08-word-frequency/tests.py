import os
import unittest

from word_frequency import count_words_in_file, top_words

WORDS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "words.txt")


class CountWordsInFileTest(unittest.TestCase):
    def test_returns_a_dictionary(self):
        self.assertIsInstance(count_words_in_file(WORDS_FILE), dict)

    def test_counts_a_word_regardless_of_case(self):
        counts = count_words_in_file(WORDS_FILE)
        self.assertEqual(counts.get("the"), 11, "'The' and 'the' are the same word; the file has 11 of them")

    def test_counts_words_on_every_line(self):
        counts = count_words_in_file(WORDS_FILE)
        self.assertEqual(counts.get("fog"), 3, "'fog' appears on two different lines, 3 times in total")

    def test_punctuation_is_not_part_of_words(self):
        counts = count_words_in_file(WORDS_FILE)
        self.assertNotIn("today!", counts, "'!' is not part of a word")
        self.assertNotIn("(green,", counts, "brackets and commas are not part of a word")
        self.assertEqual(counts.get("green"), 1)

    def test_apostrophes_inside_words_are_kept(self):
        counts = count_words_in_file(WORDS_FILE)
        self.assertEqual(counts.get("don't"), 1, "\"don't\" is one word")
        self.assertEqual(counts.get("keeper's"), 1, "\"Keeper's\" is one word")

    def test_number_of_distinct_words(self):
        self.assertEqual(len(count_words_in_file(WORDS_FILE)), 48, "the file has 48 distinct words")


class TopWordsTest(unittest.TestCase):
    def test_most_frequent_word(self):
        self.assertEqual(top_words(WORDS_FILE, 1), [("the", 11)])

    def test_equal_counts_are_ordered_alphabetically(self):
        expected = [("the", 11), ("a", 3), ("and", 3), ("boat", 3), ("fog", 3), ("i", 3)]
        self.assertEqual(
            top_words(WORDS_FILE, 6), expected, "sort by count (highest first), then alphabetically"
        )

    def test_asking_for_more_words_than_exist_returns_all(self):
        self.assertEqual(len(top_words(WORDS_FILE, 1000)), 48, "return every distinct word when n is too large")

    def test_zero_words_gives_empty_list(self):
        self.assertEqual(top_words(WORDS_FILE, 0), [])


if __name__ == "__main__":
    unittest.main()
