# Forgets numbers it does not know by raising, and returns names unsorted and reversed.
class Phonebook:
    def __init__(self):
        self.entries = {}

    def add(self, name, number):
        self.entries[name] = number

    def number(self, name):
        return self.entries[name]

    def names(self):
        return list(reversed(self.entries))

    def starting_with(self, prefix):
        return [name for name in self.entries if name.startswith(prefix)]
