"""Names of the student module are read anew once its code ran: the judge may take
``from solution import f`` from what the student process named when it started,
but a function that the student's own code rebinds (``global f``) is the new one
when read after that code ran; a name imported before keeps the first, and two
names of one function are the same object."""

import unittest

import solution
from solution import alias, greet, switch


class RebindingTest(unittest.TestCase):
    def test_two_names_of_one_function_are_one_object(self):
        self.assertIs(alias, greet)
        self.assertIs(solution.alias, alias)

    def test_a_name_read_after_student_code_rebound_it_is_the_new_function(self):
        self.assertIs(solution.greet, greet)
        self.assertEqual(greet(), "hello")
        self.assertEqual(switch(), "switched")
        self.assertEqual(solution.greet(), "bonjour")
        self.assertEqual(greet(), "hello")
        self.assertIsNot(solution.greet, greet)
