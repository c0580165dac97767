# Lets a student be in two grades, sorts the roster by name only, and leaves
# grade lists in insertion order.
class School:
    def __init__(self):
        self.grades = {}
        self.results = []

    def add_student(self, name, grade):
        names = self.grades.setdefault(grade, [])
        self.results.append(name not in names)
        if name not in names:
            names.append(name)

    def added(self):
        return self.results

    def roster(self):
        return sorted(name for names in self.grades.values() for name in names)

    def grade(self, grade_number):
        return self.grades.get(grade_number, [])

    def by_grade(self):
        return self.grades
