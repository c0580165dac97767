"""The judge's account of a failed comparison: only plain values, bounded."""

from __future__ import annotations

import contextlib
import unittest

from gradeflow.grading.sandbox.jailed.judge import REPR_LIMIT, StreamingResult, plain_repr


class Number(int):
    """Not an exact builtin type: its repr is code the tests did not write."""


def test_plain_values_are_shown_as_their_repr() -> None:
    assert plain_repr([1, "two", (3.0, None), {"k": {4, 5}}, b"x"]) == (
        "[1, 'two', (3.0, None), {'k': {4, 5}}, b'x']"
    )


def test_a_long_repr_is_cut_and_marked() -> None:
    shown = plain_repr("x" * 5000)
    assert shown is not None
    assert len(shown) == REPR_LIMIT
    assert shown.endswith("…")


def test_objects_subclasses_and_oversized_values_are_not_shown() -> None:
    assert plain_repr(Number(3)) is None
    assert plain_repr([1, object()]) is None
    assert plain_repr(list(range(20_000))) is None
    assert plain_repr(["y" * 60_000, "z" * 60_000]) is None
    assert plain_repr(10**5000) is None  # longer than Python prints
    nested: list[object] = []
    for _ in range(30):
        nested = [nested]
    assert plain_repr(nested) is None


class _Channel:
    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def send(self, event: str, **fields: object) -> None:
        self.events.append({"event": event, **fields})


class _Session:
    failure = None

    def begin_test(self, test_id: str | None) -> None:
        pass

    def take_test_output(self) -> str:
        return ""


class _Interrupted(unittest.TestCase):
    __test__ = False  # run by the tests below, not collected

    def test_interrupted(self) -> None:
        raise KeyboardInterrupt

    def test_passes(self) -> None:
        pass


def _run_one(name: str) -> dict[str, object]:
    test = _Interrupted(name)
    channel = _Channel()
    result = StreamingResult(channel, {id(test): name}, _Session())  # type: ignore[arg-type]
    with contextlib.suppress(KeyboardInterrupt):
        test.run(result)
    (reported,) = [event for event in channel.events if event["event"] == "test"]
    return reported


def test_a_test_that_unittest_stops_without_a_result_is_not_reported_passed() -> None:
    # unittest lets a KeyboardInterrupt through without recording it, then stops the
    # test: the outcome a test starts with ("passed") must not be what is reported.
    reported = _run_one("test_interrupted")

    assert reported["outcome"] == "error"


def test_a_test_that_ends_normally_is_reported_passed() -> None:
    assert _run_one("test_passes")["outcome"] == "passed"
