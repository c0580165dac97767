"""The judge's account of a failed comparison: only plain values, bounded."""

from __future__ import annotations

from gradeflow.grading.sandbox.jailed.judge import REPR_LIMIT, plain_repr


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
