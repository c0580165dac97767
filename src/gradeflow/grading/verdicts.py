"""Grading with no database, broker or server: the verdict vocabulary, what a run is
worth, and grading code against an assignment read from its directory in a sandbox
started from settings.

The submission pipeline (``grading.service``) decides with these same functions.
The CLI's ``grade`` and ``assignments check`` need nothing else, so this module and
what it imports stay free of SQLAlchemy, Redis and the web stack: a one-off grade
starts in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gradeflow.courses.format import AssignmentSpec, CourseSpec, Problem, Scoring
from gradeflow.errors import GradeflowError, Invalid, TooLarge
from gradeflow.grading.sandbox import (
    OUTPUT_LIMIT_BYTES,
    RunResult,
    RunSpec,
    Sandbox,
    SandboxUnavailable,
)
from gradeflow.grading.sandbox import factory as sandbox_factory
from gradeflow.settings import Settings


class SubmissionStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    passed = "passed"
    failed = "failed"
    error = "error"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {SubmissionStatus.passed, SubmissionStatus.failed, SubmissionStatus.error}
)
PENDING_STATUSES = frozenset({SubmissionStatus.queued, SubmissionStatus.running})


def validate_code(code: str, *, max_bytes: int) -> str:
    """Return ``code`` if it may be graded, else raise with a message for the student."""
    try:
        encoded = code.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Invalid("The code is not valid UTF-8 text.") from exc
    check_code_size(len(encoded), max_bytes=max_bytes)
    if "\0" in code:
        raise Invalid("The code contains a NUL byte; submit Python source text.")
    if not code.strip():
        raise Invalid("The code is empty.")
    return code


def check_code_size(size: int, *, max_bytes: int) -> None:
    """Refuse code of ``size`` UTF-8 bytes if it is over the limit."""
    if size > max_bytes:
        raise TooLarge(
            f"The code is {size} bytes; the limit is {max_bytes} bytes.",
            details={"size": size, "limit": max_bytes},
        )


def compute_score(*, points: int, scoring: Scoring, result: RunResult) -> float:
    total = result.counted_count
    if scoring is Scoring.proportional and total:
        return round(points * result.passed_count / total, 2)
    return float(points) if result.outcome == "passed" else 0.0


def status_for(result: RunResult) -> SubmissionStatus:
    if result.outcome == "passed":
        return SubmissionStatus.passed
    if result.outcome == "internal_error":
        return SubmissionStatus.error
    return SubmissionStatus.failed


async def grade_code(
    sandbox: Sandbox,
    *,
    assignment: AssignmentSpec,
    code: str,
    output_limit_bytes: int = OUTPUT_LIMIT_BYTES,
) -> RunResult:
    """Grade ``code`` against an assignment read from its directory (no database)."""
    return await sandbox.run(run_spec(assignment, code, output_limit_bytes=output_limit_bytes))


def run_spec(
    assignment: AssignmentSpec, code: str, *, output_limit_bytes: int = OUTPUT_LIMIT_BYTES
) -> RunSpec:
    """The run of ``code`` against ``assignment``; ``ValueError`` if it cannot be laid out."""
    files = dict(assignment.support_files)
    files["tests.py"] = assignment.tests.encode()
    files[f"{assignment.module}.py"] = code.encode()
    return RunSpec(
        files=files,
        module=assignment.module,
        test_ids=tuple(assignment.test_ids),
        time_limit_s=assignment.time_limit_s,
        memory_mb=assignment.memory_mb,
        output_limit_bytes=output_limit_bytes,
    )


async def check_solutions(sandbox: Sandbox, *, course: CourseSpec) -> list[Problem]:
    """Grade every reference solution, as many at once as ``sandbox`` has slots; a
    problem for each one that does not pass, in the course's order."""
    results = await asyncio.gather(
        *(grade_code(sandbox, assignment=a, code=a.solution) for a in course.assignments)
    )
    problems: list[Problem] = []
    for assignment, result in zip(course.assignments, results, strict=True):
        if result.outcome == "internal_error" and result.assignment_error:
            # The tests' own error (they did not load, or reached the grader's limits):
            # named on tests.py, not as a failure of the solution.
            source = assignment.source / "tests.py" if assignment.source else None
            problems.append(Problem(source, result.message, field="tests"))
        elif result.outcome != "passed":
            failing = [
                f"{t.id}: {t.message or t.outcome}" for t in result.tests if t.outcome != "passed"
            ]
            detail = "; ".join(failing[:5])
            message = f"does not pass its tests ({result.message})" + (
                f": {detail}" if detail else ""
            )
            source = assignment.source / "solution.py" if assignment.source else None
            problems.append(Problem(source, message, field="solution"))
    return problems


class SandboxRefused(GradeflowError):
    """The secure sandbox cannot run here."""


async def start_sandbox(settings: Settings, *, slots: int) -> Sandbox:
    """The secure sandbox, started; the insecure one only when the operator asked for it."""
    try:
        return await sandbox_factory.start_sandbox(
            slots=slots, insecure=settings.insecure_sandbox, cgroups=settings.sandbox_cgroups
        )
    except SandboxUnavailable as exc:
        raise SandboxRefused(str(exc)) from exc


@asynccontextmanager
async def open_sandbox(settings: Settings, *, slots: int = 1) -> AsyncIterator[Sandbox]:
    sandbox = await start_sandbox(settings, slots=slots)
    try:
        yield sandbox
    finally:
        await sandbox.close()
