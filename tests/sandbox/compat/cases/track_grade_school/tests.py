"""Exercise track, grade-school: a student object keeping state across calls, returning
sorted lists, a list of bools and a dict of grade to names."""

import unittest

from grade_school import School


class GradeSchoolTest(unittest.TestCase):
    def setUp(self):
        self.school = School()

    def test_roster_is_empty_when_no_student_is_added(self):
        self.assertEqual(self.school.roster(), [])

    def test_add_a_student(self):
        self.school.add_student(name="Aimee", grade=2)
        self.assertEqual(self.school.added(), [True])
        self.assertEqual(self.school.roster(), ["Aimee"])

    def test_student_not_added_to_the_same_grade_twice(self):
        self.school.add_student(name="Blair", grade=2)
        self.school.add_student(name="James", grade=2)
        self.school.add_student(name="James", grade=2)
        self.assertEqual(self.school.added(), [True, True, False])
        self.assertEqual(self.school.roster(), ["Blair", "James"])

    def test_student_not_added_to_other_grade(self):
        self.school.add_student(name="James", grade=2)
        self.school.add_student(name="James", grade=3)
        self.assertEqual(self.school.added(), [True, False])

    def test_roster_sorted_by_grade_then_name(self):
        for name, grade in [("Peter", 2), ("Anna", 1), ("Barb", 1), ("Zoe", 2), ("Alex", 3)]:
            self.school.add_student(name=name, grade=grade)
        self.assertEqual(self.school.roster(), ["Anna", "Barb", "Peter", "Zoe", "Alex"])

    def test_grade_is_sorted(self):
        for name in ["Franklin", "Bradley", "Jeff"]:
            self.school.add_student(name=name, grade=5)
        self.assertEqual(self.school.grade(5), ["Bradley", "Franklin", "Jeff"])
        self.assertEqual(self.school.grade(1), [])

    def test_grades_as_a_dict(self):
        self.school.add_student(name="Chelsea", grade=3)
        self.school.add_student(name="Logan", grade=7)
        self.school.add_student(name="Bob", grade=3)
        self.assertEqual(self.school.by_grade(), {3: ["Bob", "Chelsea"], 7: ["Logan"]})
