"""``unittest.TestCase.maxDiff = None`` at module level, as exercise tests often write
to show whole diffs: an honest setting, which the old harness calls tampering."""

import unittest

from solution import inventory_report

unittest.TestCase.maxDiff = None


class InventoryReportTest(unittest.TestCase):
    def test_report_lists_every_item(self):
        self.assertEqual(
            inventory_report({"apples": 3, "pears": 0, "plums": 12}),
            ["apples: 3", "pears: out of stock", "plums: 12"],
        )

    def test_empty_inventory(self):
        self.assertEqual(inventory_report({}), [])

    def test_diff_is_not_truncated(self):
        self.assertIsNone(self.maxDiff)
