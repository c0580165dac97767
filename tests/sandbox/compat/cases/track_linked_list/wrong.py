# A Python list underneath, but the messages are the list's own and delete removes
# the last match; len is not kept up to date by unshift.
class LinkedList:
    def __init__(self, values=()):
        self.items = list(values)
        self.count = len(self.items)

    def __len__(self):
        return self.count

    def __iter__(self):
        return iter(self.items)

    def __reversed__(self):
        return reversed(self.items)

    def push(self, value):
        self.items.append(value)
        self.count += 1

    def unshift(self, value):
        self.items.insert(0, value)

    def pop(self):
        self.count -= 1
        return self.items.pop()

    def shift(self):
        self.count -= 1
        return self.items.pop(0)

    def delete(self, value):
        index = len(self.items) - 1 - self.items[::-1].index(value)
        del self.items[index]
        self.count -= 1
