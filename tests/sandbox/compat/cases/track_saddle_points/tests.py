"""Exercise track, saddle-points: a list of lists in, a list of dicts out (compared
with assertCountEqual, order free), and a ValueError message for an irregular matrix."""

import unittest

from saddle_points import saddle_points


def sorted_points(points):
    return sorted(points, key=lambda point: (point["row"], point["column"]))


class SaddlePointsTest(unittest.TestCase):
    def test_can_identify_single_saddle_point(self):
        matrix = [[9, 8, 7], [5, 3, 2], [6, 6, 7]]
        self.assertEqual(saddle_points(matrix), [{"row": 2, "column": 1}])

    def test_empty_matrix_has_no_saddle_points(self):
        self.assertEqual(saddle_points([]), [])

    def test_lack_of_saddle_points(self):
        self.assertEqual(saddle_points([[1, 2, 3], [3, 1, 2], [2, 3, 1]]), [])

    def test_multiple_saddle_points_in_a_column(self):
        matrix = [[4, 5, 4], [3, 5, 5], [1, 5, 4]]
        self.assertCountEqual(
            saddle_points(matrix),
            [{"row": 1, "column": 2}, {"row": 2, "column": 2}, {"row": 3, "column": 2}],
        )

    def test_multiple_saddle_points_in_a_row(self):
        matrix = [[6, 7, 8], [5, 5, 5], [7, 5, 6]]
        self.assertEqual(
            sorted_points(saddle_points(matrix)),
            [{"row": 2, "column": 1}, {"row": 2, "column": 2}, {"row": 2, "column": 3}],
        )

    def test_single_column_matrix(self):
        self.assertCountEqual(
            saddle_points([[2], [1], [4], [1]]), [{"row": 2, "column": 1}, {"row": 4, "column": 1}]
        )

    def test_irregular_matrix(self):
        with self.assertRaises(ValueError) as err:
            saddle_points([[1, 2, 3], [3, 2], [1, 2, 3]])
        self.assertEqual(err.exception.args[0], "irregular matrix")
