import unittest

from binary_search import binary_search


class CountingSequence:
    """A read-only sorted sequence that counts how many items are read."""

    def __init__(self, data):
        self._data = data
        self.reads = 0

    def __len__(self):
        return len(self._data)

    def __getitem__(self, index):
        self.reads += 1
        return self._data[index]


class BinarySearchTest(unittest.TestCase):
    def test_finds_an_item_in_the_middle(self):
        self.assertEqual(binary_search([1, 3, 5, 8, 13], 8), 3)

    def test_finds_the_first_item(self):
        self.assertEqual(binary_search([1, 3, 5, 8, 13], 1), 0)

    def test_finds_the_last_item(self):
        self.assertEqual(binary_search([1, 3, 5, 8, 13], 13), 4)

    def test_missing_item_gives_minus_one(self):
        self.assertEqual(binary_search([1, 3, 5, 8, 13], 4), -1, "4 is not in the list")

    def test_items_outside_the_range_give_minus_one(self):
        self.assertEqual(binary_search([1, 3, 5, 8, 13], 0), -1, "0 is smaller than every item")
        self.assertEqual(binary_search([1, 3, 5, 8, 13], 99), -1, "99 is larger than every item")

    def test_empty_sequence(self):
        self.assertEqual(binary_search([], 1), -1)

    def test_single_item(self):
        self.assertEqual(binary_search([42], 42), 0)
        self.assertEqual(binary_search([42], 7), -1)

    def test_works_with_strings(self):
        self.assertEqual(binary_search(["ant", "bee", "cat", "dog", "eel"], "dog"), 3)

    def test_reads_few_items_in_a_large_sequence(self):
        items = CountingSequence(range(0, 2_000_000, 2))  # 1,000,000 even numbers
        self.assertEqual(binary_search(items, 1_234_568), 617_284)
        self.assertLessEqual(
            items.reads, 25, f"read {items.reads} items; binary search needs at most about 20 for a million"
        )

    def test_reads_few_items_when_the_target_is_missing(self):
        items = CountingSequence(range(0, 2_000_000, 2))
        self.assertEqual(binary_search(items, 777_777), -1, "odd numbers are not in the sequence")
        self.assertLessEqual(items.reads, 25, f"read {items.reads} items; that is too many for binary search")


if __name__ == "__main__":
    unittest.main()
