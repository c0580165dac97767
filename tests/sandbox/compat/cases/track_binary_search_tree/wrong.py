# Equal values go right, and sorted_data drops duplicates.
class TreeNode:
    def __init__(self, data, left=None, right=None):
        self.data = data
        self.left = left
        self.right = right


class BinarySearchTree:
    def __init__(self, tree_data):
        self.root = None
        for value in tree_data:
            self.root = self._insert(self.root, value)

    def _insert(self, node, value):
        if node is None:
            return TreeNode(value)
        if value < node.data:
            node.left = self._insert(node.left, value)
        else:
            node.right = self._insert(node.right, value)
        return node

    def data(self):
        return self.root

    def sorted_data(self):
        values = []

        def walk(node):
            if node is not None:
                walk(node.left)
                values.append(node.data)
                walk(node.right)

        walk(self.root)
        return sorted(set(values))
