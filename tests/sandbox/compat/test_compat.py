"""Honest assignments keep grading as they do: the compatibility corpus on both sandboxes.

For every case in ``cases/`` (see ``corpus.py``) the reference solution grades
``passed`` with every test passed (or skipped, where the case says so), and the
wrong submission grades ``failed`` with exactly the tests the case names failing.
These are the assignments the judge/student split must keep grading the same.
"""

from __future__ import annotations

import pytest

from gradeflow.courses.discovery import discover_test_ids
from gradeflow.grading.sandbox import RunResult, Sandbox
from tests.sandbox.compat.corpus import CASES, Case


def outcomes(result: RunResult) -> dict[str, str]:
    return {test.id: test.outcome for test in result.tests}


def describe(result: RunResult) -> str:
    """The run as pytest should show it when an assertion fails."""
    lines = [f"{result.outcome}: {result.message}"]
    lines += [f"  {t.id}: {t.outcome} {t.message}" for t in result.tests if t.outcome != "passed"]
    if result.stderr:
        lines.append(f"stderr: {result.stderr[-1500:]}")
    return "\n".join(lines)


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_reference_solution_passes_every_test(case: Case, sandbox: Sandbox) -> None:
    result = await sandbox.run(case.spec(case.solution))

    expected = {
        test_id: "skipped" if test_id in case.skipped else "passed" for test_id in case.test_ids
    }
    assert (result.outcome, outcomes(result)) == ("passed", expected), describe(result)


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_wrong_solution_fails_the_named_tests(case: Case, sandbox: Sandbox) -> None:
    result = await sandbox.run(case.spec(case.wrong))

    got = outcomes(result)
    failing = {test_id for test_id, outcome in got.items() if outcome in ("failed", "error")}
    skipped = {test_id for test_id, outcome in got.items() if outcome == "skipped"}
    assert result.outcome == "failed", describe(result)
    assert failing == case.wrong_fails, describe(result)
    assert skipped == case.skipped, describe(result)
    assert list(got) == list(case.test_ids), describe(result)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case_is_well_formed(case: Case) -> None:
    """What a case names exists, it says what it proves, and its wrong submission differs."""
    ids = set(discover_test_ids(case.tests))
    assert case.proves, "tests.py needs a docstring saying what the case proves"
    assert case.wrong_fails, "a wrong submission must fail at least one test"
    assert case.wrong_fails <= ids
    assert case.skipped <= ids
    assert not case.wrong_fails & case.skipped
    assert case.wrong != case.solution


def test_corpus_has_its_cases() -> None:
    assert len(CASES) >= 30
    assert len({case.module for case in CASES}) >= 10
