"""Exercise track, tree-building: the tests build student Record objects, pass a list
of them in, and check the student Node objects that come out (node_id, children), and
the ValueError messages for broken input."""

import unittest

from tree_building import BuildTree, Record


class TreeBuildingTest(unittest.TestCase):
    def assert_node_is_branch(self, node, node_id, children_count):
        self.assertEqual(node.node_id, node_id)
        self.assertNotEqual(len(node.children), 0)
        self.assertEqual(len(node.children), children_count)

    def assert_node_is_leaf(self, node, node_id):
        self.assertEqual(node.node_id, node_id)
        self.assertEqual(len(node.children), 0)

    def test_empty_list_input(self):
        self.assertIsNone(BuildTree([]))

    def test_one_node(self):
        self.assert_node_is_leaf(BuildTree([Record(0, 0)]), node_id=0)

    def test_three_nodes_in_order(self):
        root = BuildTree([Record(0, 0), Record(1, 0), Record(2, 0)])
        self.assert_node_is_branch(root, node_id=0, children_count=2)
        self.assert_node_is_leaf(root.children[0], node_id=1)
        self.assert_node_is_leaf(root.children[1], node_id=2)

    def test_three_nodes_in_reverse_order(self):
        root = BuildTree([Record(2, 0), Record(1, 0), Record(0, 0)])
        self.assert_node_is_branch(root, node_id=0, children_count=2)
        self.assert_node_is_leaf(root.children[0], node_id=1)
        self.assert_node_is_leaf(root.children[1], node_id=2)

    def test_binary_tree(self):
        records = [
            Record(6, 2),
            Record(0, 0),
            Record(3, 1),
            Record(2, 0),
            Record(4, 1),
            Record(5, 2),
            Record(1, 0),
        ]
        root = BuildTree(records)
        self.assert_node_is_branch(root, 0, 2)
        self.assert_node_is_branch(root.children[0], 1, 2)
        self.assert_node_is_branch(root.children[1], 2, 2)
        self.assertEqual([child.node_id for child in root.children[1].children], [5, 6])

    def test_root_node_has_parent(self):
        with self.assertRaises(ValueError) as err:
            BuildTree([Record(0, 1), Record(1, 0)])
        self.assertEqual(
            err.exception.args[0], "Node parent_id should be smaller than its record_id."
        )

    def test_no_root_node(self):
        with self.assertRaises(ValueError) as err:
            BuildTree([Record(1, 0), Record(2, 0)])
        self.assertEqual(err.exception.args[0], "Record id is invalid or out of order.")

    def test_cycle_directly(self):
        with self.assertRaises(ValueError) as err:
            BuildTree([Record(0, 0), Record(1, 0), Record(2, 2)])
        self.assertEqual(err.exception.args[0], "Only root should have equal record and parent id.")
