"""Exercise track, high-scores: functions over the test's list that must not reorder it
(checked after the call), returning ints and lists."""

import unittest

from high_scores import latest, personal_best, personal_top_three


class HighScoresTest(unittest.TestCase):
    def test_latest_score(self):
        self.assertEqual(latest([100, 0, 90, 30]), 30)

    def test_personal_best(self):
        self.assertEqual(personal_best([40, 100, 70]), 100)

    def test_personal_top_three_from_a_list_of_scores(self):
        self.assertEqual(
            personal_top_three([10, 30, 90, 30, 100, 20, 10, 0, 30, 40, 40, 70, 70]), [100, 90, 70]
        )

    def test_personal_top_when_there_is_a_tie(self):
        self.assertEqual(personal_top_three([40, 20, 40, 30]), [40, 40, 30])

    def test_personal_top_when_there_are_less_than_3(self):
        self.assertEqual(personal_top_three([30, 70]), [70, 30])

    def test_latest_after_personal_top_three(self):
        scores = [20, 70, 15, 25, 30]
        personal_top_three(scores)
        self.assertEqual(latest(scores), 30)
        self.assertEqual(scores, [20, 70, 15, 25, 30])

    def test_latest_after_personal_best(self):
        scores = [20, 70, 15, 25, 30]
        personal_best(scores)
        self.assertEqual(latest(scores), 30)
