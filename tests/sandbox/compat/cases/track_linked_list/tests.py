"""Exercise track, linked-list: a student container with push/pop/shift/unshift, len(),
iteration and reversed(), whose IndexError messages are checked via err.exception.args[0]."""

import unittest

from linked_list import LinkedList


class LinkedListTest(unittest.TestCase):
    def test_pop_gets_the_last_element(self):
        lst = LinkedList()
        lst.push(7)
        lst.push(8)
        self.assertEqual(lst.pop(), 8)
        self.assertEqual(lst.pop(), 7)

    def test_shift_gets_the_first_element(self):
        lst = LinkedList()
        lst.push(10)
        lst.push(20)
        self.assertEqual(lst.shift(), 10)
        self.assertEqual(lst.shift(), 20)

    def test_unshift_adds_to_the_front(self):
        lst = LinkedList()
        lst.unshift(10)
        lst.unshift(20)
        self.assertEqual(lst.pop(), 10)
        self.assertEqual(lst.pop(), 20)

    def test_len_counts_the_elements(self):
        lst = LinkedList()
        self.assertEqual(len(lst), 0)
        lst.push(1)
        lst.unshift(2)
        self.assertEqual(len(lst), 2)
        lst.pop()
        self.assertEqual(len(lst), 1)

    def test_iteration_goes_front_to_back(self):
        lst = LinkedList([1, 2, 3])
        self.assertEqual(list(lst), [1, 2, 3])
        self.assertEqual([value * 10 for value in lst], [10, 20, 30])

    def test_reversed_goes_back_to_front(self):
        self.assertEqual(list(reversed(LinkedList([1, 2, 3]))), [3, 2, 1])

    def test_delete_removes_the_first_match(self):
        lst = LinkedList([1, 2, 1])
        lst.delete(1)
        self.assertEqual(list(lst), [2, 1])

    def test_pop_from_an_empty_list_raises_with_a_message(self):
        lst = LinkedList()
        with self.assertRaises(IndexError) as err:
            lst.pop()
        self.assertEqual(type(err.exception), IndexError)
        self.assertEqual(err.exception.args[0], "List is empty")

    def test_shift_from_an_empty_list_raises_with_a_message(self):
        with self.assertRaises(IndexError) as err:
            LinkedList().shift()
        self.assertEqual(err.exception.args[0], "List is empty")

    def test_deleting_a_missing_value_raises_value_error(self):
        lst = LinkedList([1])
        with self.assertRaises(ValueError) as err:
            lst.delete(5)
        self.assertEqual(err.exception.args[0], "Value not found")
