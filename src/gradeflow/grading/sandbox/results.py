"""What a grading run produced: per-test outcomes, the run outcome and captured output.

Outcomes are plain values (as in CMS's sandbox): a student program that loops, crashes
or exhausts memory yields a ``RunResult``; only our own bugs raise.
``RunResult.to_dict`` is the shape stored as a submission's feedback and shown to the
student, so it stays small, JSON-able and stable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeGuard, get_args

from gradeflow.grading.sandbox.jailed.wire import code_name

Outcome = Literal[
    "passed",
    "failed",
    "timeout",
    "memory_limit",
    "crashed",
    "syntax_error",
    "import_error",
    "internal_error",
]
TestOutcome = Literal["passed", "failed", "error", "skipped", "not_run"]

OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))
TEST_OUTCOMES: frozenset[str] = frozenset(get_args(TestOutcome))


def is_outcome(value: object) -> TypeGuard[Outcome]:
    return isinstance(value, str) and value in OUTCOMES


def is_test_outcome(value: object) -> TypeGuard[TestOutcome]:
    return isinstance(value, str) and value in TEST_OUTCOMES


@dataclass(frozen=True)
class TestResult:
    """The outcome of one test method, with the message the student sees.

    The optional details, as the judge reported them: ``description`` is the first
    line of the test's docstring; ``expected`` and ``actual`` are the reprs of an
    assertEqual-family comparison that failed (its second and first argument, by the
    ``assertEqual(your_call(...), expected)`` convention), ``note`` its ``msg``;
    ``line`` is the line of the student's file where an error in their code was raised;
    ``output`` the start of what their code printed during the test.
    """

    # Not a test class, despite the name: keep pytest from collecting it.
    __test__ = False

    id: str
    outcome: TestOutcome
    message: str
    description: str = ""
    expected: str | None = None
    actual: str | None = None
    note: str = ""
    line: int | None = None
    output: str = ""

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"id": self.id, "outcome": self.outcome, "message": self.message}
        # Details only when there are some: stored feedback stays as small as before.
        if self.description:
            data["description"] = self.description
        if self.expected is not None and self.actual is not None:
            data["expected"], data["actual"] = self.expected, self.actual
        if self.note:
            data["note"] = self.note
        if self.line is not None:
            data["line"] = self.line
        if self.output:
            data["output"] = self.output
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> TestResult:
        test_id, outcome, message = data.get("id"), data.get("outcome"), data.get("message")
        if not isinstance(test_id, str) or not is_test_outcome(outcome):
            raise ValueError(f"not a test result: {data!r}")
        expected, actual = data.get("expected"), data.get("actual")
        compared: tuple[str, str] | tuple[None, None] = (
            (expected, actual)
            if isinstance(expected, str) and isinstance(actual, str)
            else (None, None)
        )
        return cls(
            id=test_id,
            outcome=outcome,
            message=message if isinstance(message, str) else "",
            description=_optional_text(data, "description"),
            expected=compared[0],
            actual=compared[1],
            note=_optional_text(data, "note"),
            line=line_number(data.get("line")),
            output=_optional_text(data, "output"),
        )


def readable_name(test_id: str, description: str = "") -> str:
    """A test as students read it, quoted: its docstring's first line, or its method
    name in words (``GreetTest.test_greets_by_name`` is "greets by name")."""
    if description:
        return f"“{description}”"
    method = test_id.rsplit(".", 1)[-1]
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", method.removeprefix("test"))
    words = " ".join(words.replace("_", " ").split()).lower()
    return f"“{words or method}”"


def line_number(value: object) -> int | None:
    """A line number of the student's file, or None if ``value`` is not a plausible one."""
    if type(value) is int and 1 <= value <= 1_000_000:
        return value
    return None


def _optional_text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class RunResult:
    """The result of running one submission against its tests."""

    outcome: Outcome
    tests: tuple[TestResult, ...]
    message: str
    stdout: str
    stderr: str
    duration_ms: int
    # The student's line a syntax error or an error while importing their code is on.
    line: int | None = None
    # The student's function the tests were calling when the time ran out.
    function: str | None = None
    # An internal_error of the assignment, not of ours nor of the submission: the
    # judge reached its own cgroup limits, tests.py raised while loading before any
    # student code ran, or its files cannot be laid out for a run. Another attempt
    # would meet it again, so it is recorded, not retried. (Stored as "grader_limit"
    # before stop 27, when the judge's limits were its only cause.)
    assignment_error: bool = False

    @property
    def passed_count(self) -> int:
        return sum(1 for test in self.tests if test.outcome == "passed")

    @property
    def counted_count(self) -> int:
        """Tests that count towards a score: all but the skipped ones."""
        return sum(1 for test in self.tests if test.outcome != "skipped")

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "outcome": self.outcome,
            "message": self.message,
            "tests": [test.to_dict() for test in self.tests],
            "stdout": self.stdout,
            "stderr": self.stderr,
            "duration_ms": self.duration_ms,
        }
        if self.line is not None:
            data["line"] = self.line
        if self.function is not None:
            data["function"] = self.function
        if self.assignment_error:
            data["assignment_error"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RunResult:
        """Rebuild a result stored by ``to_dict``; ``ValueError`` if it is not one."""
        outcome, tests, duration = data.get("outcome"), data.get("tests"), data.get("duration_ms")
        if not is_outcome(outcome):
            raise ValueError(f"unknown run outcome: {outcome!r}")
        if not isinstance(tests, list) or not all(isinstance(test, Mapping) for test in tests):
            raise ValueError("tests must be a list of objects")
        if isinstance(duration, bool) or not isinstance(duration, int):
            raise ValueError("duration_ms must be an integer")
        return cls(
            outcome=outcome,
            tests=tuple(TestResult.from_dict(test) for test in tests),
            message=_text(data, "message"),
            stdout=_text(data, "stdout"),
            stderr=_text(data, "stderr"),
            duration_ms=duration,
            line=line_number(data.get("line")),
            function=code_name(data.get("function")),
            assignment_error=any(
                data.get(key) is True for key in ("assignment_error", "grader_limit")
            ),
        )


def _text(data: Mapping[str, object], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


@dataclass(frozen=True)
class RunProgress:
    """How far a run has got, from the judge's own lines so far; never its verdict
    (that is decided once the run ended, from everything the judge said)."""

    total: int
    finished: tuple[TestResult, ...]  # in the order they finished
    running: str | None  # the test the judge said it started, if not finished yet

    @property
    def passed_count(self) -> int:
        return sum(1 for test in self.finished if test.outcome == "passed")


# Called on the run's event loop each time the judge starts or finishes a test (and
# once when the run starts); it must return quickly and never raise.
ProgressCallback = Callable[[RunProgress], None]
