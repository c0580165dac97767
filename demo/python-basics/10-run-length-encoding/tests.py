import unittest

from run_length import decode, encode


class EncodeTest(unittest.TestCase):
    def test_empty_string(self):
        self.assertEqual(encode(""), "")

    def test_single_characters_have_no_count(self):
        self.assertEqual(encode("XYZ"), "XYZ", "a run of length 1 is written without a count")

    def test_runs_are_replaced_by_count_and_character(self):
        self.assertEqual(encode("WWWWBBBW"), "4W3BW")

    def test_same_character_in_separate_runs(self):
        self.assertEqual(encode("aabaa"), "2ab2a", "runs that are not next to each other are encoded separately")

    def test_spaces_are_encoded_like_other_characters(self):
        self.assertEqual(encode("  hi!!!"), "2 hi3!")

    def test_counts_with_several_digits(self):
        self.assertEqual(encode("a" * 12 + "b"), "12ab", "a run of twelve 'a's is '12a'")


class DecodeTest(unittest.TestCase):
    def test_empty_string(self):
        self.assertEqual(decode(""), "")

    def test_runs_and_single_characters(self):
        self.assertEqual(decode("4W3BW"), "WWWWBBBW")

    def test_counts_with_several_digits(self):
        self.assertEqual(decode("12ab"), "a" * 12 + "b", "'12a' means twelve 'a's, not one '2a'")

    def test_decode_undoes_encode(self):
        text = "zzz ZZ  zZ...!"
        self.assertEqual(decode(encode(text)), text, "decode(encode(text)) must give back text")


if __name__ == "__main__":
    unittest.main()
