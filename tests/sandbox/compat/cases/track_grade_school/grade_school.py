class School:
    def __init__(self):
        self.grades = {}
        self.results = []

    def add_student(self, name, grade):
        known = any(name in names for names in self.grades.values())
        if not known:
            self.grades.setdefault(grade, set()).add(name)
        self.results.append(not known)

    def added(self):
        return list(self.results)

    def roster(self):
        return [name for grade in sorted(self.grades) for name in sorted(self.grades[grade])]

    def grade(self, grade_number):
        return sorted(self.grades.get(grade_number, ()))

    def by_grade(self):
        return {grade: sorted(names) for grade, names in sorted(self.grades.items())}
