class Phonebook:
    def __init__(self):
        self.entries = {}

    def add(self, name, number):
        self.entries[name] = number

    def number(self, name):
        return self.entries.get(name)

    def names(self):
        return sorted(self.entries)

    def starting_with(self, prefix):
        return [name for name in self.names() if name.startswith(prefix)]
