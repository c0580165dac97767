"""Exercise track, binary-search-tree: the tests import only the tree class and walk
the node objects it returns (never imported by the tests) through .data, .left and
.right, with a recursive helper on the TestCase."""

import unittest

from binary_search_tree import BinarySearchTree


class BinarySearchTreeTest(unittest.TestCase):
    def assertTreeShape(self, node, expected):
        """``expected`` is (data, left, right) nested, or None for no node."""
        if expected is None:
            self.assertIsNone(node)
            return
        data, left, right = expected
        self.assertIsNotNone(node)
        self.assertEqual(node.data, data)
        self.assertTreeShape(node.left, left)
        self.assertTreeShape(node.right, right)

    def test_data_is_retained(self):
        self.assertTreeShape(BinarySearchTree(["4"]).data(), ("4", None, None))

    def test_smaller_number_at_left_node(self):
        self.assertTreeShape(BinarySearchTree(["4", "2"]).data(), ("4", ("2", None, None), None))

    def test_same_number_at_left_node(self):
        self.assertTreeShape(BinarySearchTree(["4", "4"]).data(), ("4", ("4", None, None), None))

    def test_greater_number_at_right_node(self):
        self.assertTreeShape(BinarySearchTree(["4", "5"]).data(), ("4", None, ("5", None, None)))

    def test_can_create_a_complex_tree(self):
        tree = BinarySearchTree(["4", "2", "6", "1", "3", "5", "7"])
        self.assertTreeShape(
            tree.data(),
            (
                "4",
                ("2", ("1", None, None), ("3", None, None)),
                ("6", ("5", None, None), ("7", None, None)),
            ),
        )

    def test_walking_the_nodes_directly(self):
        root = BinarySearchTree(["2", "1", "3"]).data()
        self.assertEqual(root.left.data, "1")
        self.assertEqual(root.right.data, "3")
        self.assertIsNone(root.left.left)

    def test_sorted_data(self):
        self.assertEqual(
            BinarySearchTree(["2", "1", "3", "6", "7", "5"]).sorted_data(),
            ["1", "2", "3", "5", "6", "7"],
        )
        self.assertEqual(BinarySearchTree(["2", "2"]).sorted_data(), ["2", "2"])
