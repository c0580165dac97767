import unittest

from matrix import multiply, transpose


class TransposeTest(unittest.TestCase):
    def test_square_matrix(self):
        self.assertEqual(transpose([[1, 2], [3, 4]]), [[1, 3], [2, 4]])

    def test_rectangular_matrix_changes_shape(self):
        self.assertEqual(
            transpose([[1, 2, 3], [4, 5, 6]]),
            [[1, 4], [2, 5], [3, 6]],
            "a 2x3 matrix becomes a 3x2 matrix",
        )

    def test_single_row_becomes_single_column(self):
        self.assertEqual(transpose([[7, 8, 9]]), [[7], [8], [9]])

    def test_empty_matrix(self):
        self.assertEqual(transpose([]), [])

    def test_rows_are_lists(self):
        result = transpose([[1, 2], [3, 4]])
        self.assertEqual(len(result), 2, "a 2x2 matrix has 2 rows after transposing")
        self.assertIsInstance(result[0], list, "each row of the result should be a list, not a tuple")

    def test_input_is_not_modified(self):
        original = [[1, 2, 3], [4, 5, 6]]
        transpose(original)
        self.assertEqual(original, [[1, 2, 3], [4, 5, 6]], "transpose must not change its argument")


class MultiplyTest(unittest.TestCase):
    def test_two_by_two_matrices(self):
        self.assertEqual(multiply([[1, 2], [3, 4]], [[5, 6], [7, 8]]), [[19, 22], [43, 50]])

    def test_multiplying_by_the_identity_changes_nothing(self):
        m = [[2, -1, 0], [4, 3, 5]]
        identity = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        self.assertEqual(multiply(m, identity), m)

    def test_rectangular_matrices(self):
        self.assertEqual(
            multiply([[1, 2, 3]], [[4], [5], [6]]),
            [[32]],
            "a 1x3 matrix times a 3x1 matrix is a 1x1 matrix: 1*4 + 2*5 + 3*6",
        )

    def test_incompatible_shapes_raise_value_error(self):
        with self.assertRaises(ValueError, msg="a 2x2 matrix cannot be multiplied by a 3x1 matrix"):
            multiply([[1, 2], [3, 4]], [[1], [2], [3]])


if __name__ == "__main__":
    unittest.main()
