import unittest

from anagrams import find_anagrams


class FindAnagramsTest(unittest.TestCase):
    def test_no_matches(self):
        self.assertEqual(find_anagrams("diaper", ["hello", "world", "zombies"]), [])

    def test_a_single_anagram(self):
        self.assertEqual(find_anagrams("evil", ["love", "live", "lives"]), ["live"])

    def test_several_anagrams(self):
        self.assertEqual(find_anagrams("evil", ["live", "vile", "veil", "love"]), ["live", "vile", "veil"])

    def test_keeps_the_original_order(self):
        self.assertEqual(
            find_anagrams("listen", ["tinsel", "enlist", "inlets"]),
            ["tinsel", "enlist", "inlets"],
            "anagrams should come back in the order they were given",
        )

    def test_comparison_ignores_case(self):
        self.assertEqual(
            find_anagrams("Listen", ["SILENT", "google"]), ["SILENT"], "case should not matter"
        )

    def test_keeps_the_original_spelling_of_candidates(self):
        self.assertEqual(find_anagrams("stone", ["Notes", "ONSET"]), ["Notes", "ONSET"])

    def test_a_word_is_not_its_own_anagram(self):
        self.assertEqual(
            find_anagrams("stop", ["stop", "Stop", "pots", "tops"]),
            ["pots", "tops"],
            "the word itself (in any case) is not an anagram",
        )

    def test_letters_must_be_used_the_same_number_of_times(self):
        self.assertEqual(
            find_anagrams("banana", ["banan", "bandana", "nabana", "aaabnn"]),
            ["nabana", "aaabnn"],
            "every letter must appear exactly as often as in the word",
        )

    def test_empty_candidate_list(self):
        self.assertEqual(find_anagrams("anything", []), [])


if __name__ == "__main__":
    unittest.main()
