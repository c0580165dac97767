"""Exercise track, matrix: a student object built from a string, returning rows and
columns as plain lists (1-based)."""

import unittest

from matrix import Matrix


class MatrixTest(unittest.TestCase):
    def test_extract_row_from_one_number_matrix(self):
        self.assertEqual(Matrix("1").row(1), [1])

    def test_can_extract_row(self):
        self.assertEqual(Matrix("1 2\n3 4").row(2), [3, 4])

    def test_extract_row_where_numbers_have_different_widths(self):
        self.assertEqual(Matrix("1 2\n10 20").row(2), [10, 20])

    def test_can_extract_row_from_non_square_matrix(self):
        self.assertEqual(Matrix("1 2 3\n4 5 6\n7 8 9\n8 7 6").row(4), [8, 7, 6])

    def test_can_extract_column(self):
        self.assertEqual(Matrix("1 2 3\n4 5 6\n7 8 9").column(3), [3, 6, 9])

    def test_can_extract_column_from_non_square_matrix(self):
        self.assertEqual(Matrix("1 2 3 4\n5 6 7 8\n9 8 7 6").column(4), [4, 8, 6])
