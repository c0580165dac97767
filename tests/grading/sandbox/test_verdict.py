"""The host's reading of the judge's lines: a test's details are checked and bounded."""

from __future__ import annotations

import json

from gradeflow.grading.sandbox.verdict import DETAIL_LIMIT, HarnessReport

NONCE = "n0nce"


def report_of(*events: dict[str, object]) -> HarnessReport:
    report = HarnessReport(nonce=NONCE, expected=frozenset({"T.test_a", "T.test_b"}))
    for event in ({"event": "ready"}, *events):
        report.add_line(json.dumps({"nonce": NONCE, **event}).encode())
    return report


def test_a_tests_details_are_kept_when_well_formed() -> None:
    report = report_of(
        {"event": "output", "test": "T.test_a", "text": "hi\n"},
        {
            "event": "test",
            "test": "T.test_a",
            "outcome": "failed",
            "message": "AssertionError: 1 != 2",
            "description": "Adds.",
            "expected": "2",
            "actual": "1",
            "note": "one and one",
            "line": 3,
        },
    )
    test = report.tests["T.test_a"]
    assert (test.description, test.expected, test.actual, test.note, test.line, test.output) == (
        "Adds.",
        "2",
        "1",
        "one and one",
        3,
        "hi\n",
    )


def test_malformed_or_unexpected_details_are_dropped() -> None:
    report = report_of(
        {"event": "output", "test": ["T.test_a"], "text": "x"},
        {"event": "output", "test": "T.test_other", "text": "x"},
        {
            "event": "test",
            "test": "T.test_a",
            "outcome": "failed",
            "message": "m",
            "expected": "only one side",
            "line": True,
        },
        {
            "event": "test",
            "test": "T.test_b",
            "outcome": "passed",
            "message": "",
            "expected": "x" * 5000,
            "actual": "y",
            "line": 7,
        },
    )
    first, second = report.tests["T.test_a"], report.tests["T.test_b"]
    assert (first.expected, first.actual, first.line, first.output) == (None, None, None, "")
    # A passed test has nothing to compare and no error line.
    assert (second.expected, second.actual, second.line) == (None, None, None)
    assert report.outputs == {}


def test_long_details_are_cut_to_their_limit() -> None:
    report = report_of(
        {
            "event": "test",
            "test": "T.test_a",
            "outcome": "failed",
            "message": "m",
            "expected": "x" * 5000,
            "actual": "y",
            "description": "d" * 5000,
        }
    )
    test = report.tests["T.test_a"]
    assert test.expected is not None
    assert len(test.expected) == DETAIL_LIMIT
    assert test.expected.endswith("…")
    assert len(test.description) == 200


def test_progress_counts_only_the_judges_first_report_of_an_expected_test() -> None:
    changes: list[tuple[int, str | None]] = []
    report = HarnessReport(nonce=NONCE, expected=frozenset({"T.test_a", "T.test_b"}))

    def on_change() -> None:
        progress = report.progress()
        changes.append((progress.passed_count, progress.running))

    report.on_change = on_change
    lines = [
        {"nonce": NONCE, "event": "ready"},
        {"nonce": NONCE, "event": "start", "test": "T.test_a"},
        {"nonce": "guessed", "event": "test", "test": "T.test_a", "outcome": "passed"},
        {"nonce": NONCE, "event": "test", "test": "T.test_x", "outcome": "passed"},
        {"nonce": NONCE, "event": "start", "test": "T.test_x"},
        {"nonce": NONCE, "event": "test", "test": "T.test_a", "outcome": "failed"},
        {"nonce": NONCE, "event": "test", "test": "T.test_a", "outcome": "passed"},
        {"nonce": NONCE, "event": "start", "test": "T.test_a"},
        {"nonce": NONCE, "event": "start", "test": "T.test_b"},
        {"nonce": NONCE, "event": "test", "test": "T.test_b", "outcome": "passed"},
        {"nonce": NONCE, "event": "done"},
        {"nonce": NONCE, "event": "test", "test": "T.test_b", "outcome": "passed"},
    ]
    for line in lines:
        report.add_line(json.dumps(line).encode())

    # The forged, the unexpected, the second report and anything after "done" count for
    # nothing; a test already reported cannot be "running" again.
    assert changes == [(0, "T.test_a"), (0, None), (0, "T.test_b"), (1, None)]
    assert [(t.id, t.outcome) for t in report.progress().finished] == [
        ("T.test_a", "failed"),
        ("T.test_b", "passed"),
    ]
