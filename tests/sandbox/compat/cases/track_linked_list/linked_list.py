class Node:
    def __init__(self, value, previous=None, following=None):
        self.value = value
        self.previous = previous
        self.following = following


class LinkedList:
    def __init__(self, values=()):
        self.head = self.tail = None
        self.size = 0
        for value in values:
            self.push(value)

    def __len__(self):
        return self.size

    def __iter__(self):
        node = self.head
        while node is not None:
            yield node.value
            node = node.following

    def __reversed__(self):
        node = self.tail
        while node is not None:
            yield node.value
            node = node.previous

    def push(self, value):
        node = Node(value, previous=self.tail)
        if self.tail is None:
            self.head = node
        else:
            self.tail.following = node
        self.tail = node
        self.size += 1

    def unshift(self, value):
        node = Node(value, following=self.head)
        if self.head is None:
            self.tail = node
        else:
            self.head.previous = node
        self.head = node
        self.size += 1

    def _unlink(self, node):
        if node.previous is None:
            self.head = node.following
        else:
            node.previous.following = node.following
        if node.following is None:
            self.tail = node.previous
        else:
            node.following.previous = node.previous
        self.size -= 1
        return node.value

    def pop(self):
        if self.tail is None:
            raise IndexError("List is empty")
        return self._unlink(self.tail)

    def shift(self):
        if self.head is None:
            raise IndexError("List is empty")
        return self._unlink(self.head)

    def delete(self, value):
        node = self.head
        while node is not None:
            if node.value == value:
                self._unlink(node)
                return
            node = node.following
        raise ValueError("Value not found")
