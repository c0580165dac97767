"""Student code changing containers the tests passed in: appending to a list, sorting
it in place, updating a dict and a set, leaving one alone; and a student object that
keeps the test's list (or dict) and changes it in later method calls."""

import unittest

from solution import Logbook, add_item, count_into, leave_alone, sort_in_place, tag


class MutationTest(unittest.TestCase):
    def test_student_appends_to_the_tests_list(self):
        basket = ["apple"]
        result = add_item(basket, "pear")
        self.assertIsNone(result)
        self.assertEqual(basket, ["apple", "pear"])

    def test_student_sorts_the_tests_list_in_place(self):
        numbers = [3, 1, 2]
        sort_in_place(numbers)
        self.assertEqual(numbers, [1, 2, 3])

    def test_student_updates_the_tests_dict(self):
        counts = {"a": 1}
        count_into(counts, "abca")
        self.assertEqual(counts, {"a": 3, "b": 1, "c": 1})

    def test_student_updates_the_tests_set(self):
        tags = {"new"}
        tag(tags, ["sale", "new"])
        self.assertEqual(tags, {"new", "sale"})

    def test_student_leaves_the_tests_list_alone(self):
        numbers = [3, 1, 2]
        self.assertEqual(leave_alone(numbers), [1, 2, 3])
        self.assertEqual(numbers, [3, 1, 2])

    def test_same_list_passed_twice_stays_one_list(self):
        shared = []
        add_item(shared, 1)
        add_item(shared, 2)
        self.assertEqual(shared, [1, 2])


class KeptReferenceTest(unittest.TestCase):
    def test_object_appends_later_to_the_list_it_was_given(self):
        lines = []
        book = Logbook(lines)
        book.write("first")
        self.assertEqual(lines, ["first"])
        book.write("second")
        self.assertEqual(lines, ["first", "second"])
        self.assertEqual(len(book), 2)

    def test_object_fills_the_dict_it_was_given(self):
        index = {}
        book = Logbook([], index=index)
        book.write("alpha")
        book.write("beta")
        self.assertEqual(index, {"alpha": 0, "beta": 1})
