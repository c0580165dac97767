"""Every forgery of the corpus graded in the secure sandbox: none may pass a test.

Forgeries run only in the zygote sandbox: some signal every process they can reach,
which in the unisolated ``ProcessSandbox`` would be the host's. After each forgery
the same sandbox must still grade the honest solution as passed.
"""

from __future__ import annotations

import pytest

from gradeflow.courses.discovery import discover_test_ids
from gradeflow.grading.sandbox import RunResult, RunSpec, Sandbox, ZygoteSandbox
from tests.grading.sandbox.time_scale import scaled
from tests.sandbox.forgery.corpus import (
    FORGERIES,
    HONEST,
    SMALL_ASSIGNMENTS,
    WRONG,
    Forgery,
    SmallAssignment,
)

TESTS = """
import unittest

from forge import Box, Resource, answer, apply, countdown, fill, is_even, parse, ratio


class ForgeTest(unittest.TestCase):
    def test_answer(self):
        self.assertEqual(answer(), 42)

    def test_ratio(self):
        self.assertAlmostEqual(ratio(), 0.5)

    def test_is_even(self):
        self.assertTrue(is_even(42))
        self.assertFalse(is_even(41))

    def test_parse_rejects_junk(self):
        with self.assertRaises(ValueError):
            parse("x")

    def test_countdown(self):
        self.assertEqual(list(countdown(3)), [3, 2, 1])

    def test_apply(self):
        self.assertEqual(apply(lambda x: x + 1, 41), 42)

    def test_fill(self):
        out = []
        fill(out)
        self.assertEqual(out, [42])

    def test_box(self):
        self.assertEqual(Box(42).value, 42)

    def test_resource(self):
        with Resource() as resource:
            self.assertEqual(resource.value, 42)
"""
TEST_IDS = discover_test_ids(TESTS)


def spec_for(code: str, *, time_limit_s: float = 2.0, memory_mb: int = 128) -> RunSpec:
    return RunSpec(
        files={"tests.py": TESTS.encode(), "forge.py": code.encode()},
        module="forge",
        test_ids=TEST_IDS,
        time_limit_s=scaled(time_limit_s),
        memory_mb=memory_mb,
    )


def summary(result: RunResult) -> str:
    tests = ", ".join(f"{test.id.split('.')[-1]}={test.outcome}" for test in result.tests)
    return f"{result.outcome} ({result.passed_count} passed): {result.message} [{tests}]"


def test_the_corpus_has_at_least_thirty_forgeries() -> None:
    assert len(FORGERIES) >= 35
    assert len({forgery.name for forgery in FORGERIES}) == len(FORGERIES)


async def test_the_honest_solution_passes(sandbox: Sandbox) -> None:
    result = await sandbox.run(spec_for(HONEST))

    assert result.outcome == "passed", summary(result)
    assert result.passed_count == len(TEST_IDS)


async def test_the_wrong_solution_fails_every_test(sandbox: Sandbox) -> None:
    result = await sandbox.run(spec_for(WRONG))

    assert result.outcome == "failed", summary(result)
    assert [test.outcome for test in result.tests] == ["failed"] * len(TEST_IDS), summary(result)


@pytest.mark.parametrize("forgery", FORGERIES, ids=str)
async def test_forgery_passes_no_test(forgery: Forgery, zygote_sandbox: ZygoteSandbox) -> None:
    spec = spec_for(forgery.code, time_limit_s=forgery.time_limit_s, memory_mb=forgery.memory_mb)

    for _ in range(forgery.runs):
        result = await zygote_sandbox.run(spec)

        assert result.outcome != "passed", summary(result)
        assert result.passed_count == 0, summary(result)
    honest = await zygote_sandbox.run(spec_for(HONEST))
    assert honest.outcome == "passed", summary(honest)


def small_spec(assignment: SmallAssignment, code: str) -> RunSpec:
    return RunSpec(
        files={"tests.py": assignment.tests.encode(), f"{assignment.module}.py": code.encode()},
        module=assignment.module,
        test_ids=discover_test_ids(assignment.tests),
        time_limit_s=scaled(assignment.time_limit_s),
        memory_mb=128,
    )


@pytest.mark.parametrize(
    ("assignment", "forgery"),
    [(assignment, forgery) for assignment in SMALL_ASSIGNMENTS for forgery in assignment.forgeries],
    ids=lambda value: str(value) if isinstance(value, Forgery) else "",
)
async def test_small_assignment_forgery_passes_no_test(
    assignment: SmallAssignment, forgery: Forgery, zygote_sandbox: ZygoteSandbox
) -> None:
    result = await zygote_sandbox.run(small_spec(assignment, forgery.code))

    assert result.outcome not in ("passed", "internal_error"), summary(result)
    assert result.passed_count == 0, summary(result)
    skipped = {test.id for test in result.tests if test.outcome == "skipped"}
    assert skipped <= assignment.skippable, summary(result)
    honest = await zygote_sandbox.run(small_spec(assignment, assignment.honest))
    assert honest.outcome == "passed", summary(honest)
