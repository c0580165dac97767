"""Decide a run's result from what the judge reported and how its process ended.

Nothing coming out of the sandboxed process is trusted: result lines without the
run's nonce are ignored, every field is type-checked and bounded, events after the
judge's last word are dropped, and a run that did not report exactly the expected
tests fails. Stdout and stderr are never parsed.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gradeflow.grading.sandbox.jailed.wire import bound_message, code_name
from gradeflow.grading.sandbox.results import (
    Outcome,
    RunProgress,
    RunResult,
    TestOutcome,
    TestResult,
    line_number,
    readable_name,
)
from gradeflow.grading.sandbox.spec import RunSpec

# Harness lines are a few kilobytes at most; longer ones are garbage written to the
# channel by student code and are dropped without being buffered.
MAX_LINE_BYTES = 64 * 1024
# A test's details (the judge's own limits are lower).
DETAIL_LIMIT = 1000
DESCRIPTION_LIMIT = 200
TEST_OUTPUT_LIMIT = 2000
# A flood of output explained, with what to try (issue 12: floods are limits explained too).
OUTPUT_CUT_NOTE = (
    f"[The rest is not shown: this test printed more than {TEST_OUTPUT_LIMIT:,} characters."
    " Printing a lot, for example inside a loop, slows your code down and buries the"
    " feedback: print less, or only while you are looking for a problem.]"
)
_STUDENT_FAILURES = ("timeout", "memory_limit", "crashed")
_REPORTED_OUTCOMES: dict[object, TestOutcome] = {
    "passed": "passed",
    "failed": "failed",
    "error": "error",
    "skipped": "skipped",
}


class LineSplitter:
    """Splits a byte stream into lines, discarding lines longer than ``MAX_LINE_BYTES``."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            if not self._discarding:
                self._buffer += data[start:end]
                if len(self._buffer) <= MAX_LINE_BYTES:
                    yield bytes(self._buffer)
            self._buffer.clear()
            self._discarding = False
            start = end + 1
        if not self._discarding:
            self._buffer += data[start:]
            if len(self._buffer) > MAX_LINE_BYTES:
                self._buffer.clear()
                self._discarding = True


def clean_text(value: object) -> str:
    """A bounded string that encodes as UTF-8 (JSON escapes may carry lone surrogates)."""
    if not isinstance(value, str):
        return ""
    return bound_message(without_nul(value.encode("utf-8", "replace").decode("utf-8")))


def optional_text(value: object, limit: int) -> str | None:
    """``clean_text`` of a string cut to ``limit``; None if ``value`` is not a string."""
    return bound_message(clean_text(value), limit) if isinstance(value, str) else None


def without_nul(text: str) -> str:
    """``text`` with NUL characters replaced: PostgreSQL text and jsonb reject them."""
    return text.replace("\0", "\ufffd")


@dataclass(frozen=True)
class StudentFailureReport:
    """One time the student process failed, as the judge reported it."""

    kind: str  # one of _STUDENT_FAILURES
    test: str | None  # the test it failed in, if one of the expected
    message: str
    # For a timeout: the student's function the tests were calling, as the judge named it.
    function: str | None = None


@dataclass
class HarnessReport:
    """What the judge said over the result channel, validated line by line."""

    nonce: str
    expected: frozenset[str]
    ready: bool = False
    finished: bool = False  # after done, syntax_error or import_error nothing more counts
    done: bool = False
    running: str | None = None
    tests: dict[str, TestResult] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # printed during a test
    unexpected: list[str] = field(default_factory=list)
    fixture_problems: list[str] = field(default_factory=list)
    syntax_error: str | None = None
    import_error: str | None = None
    error_line: int | None = None  # of the syntax or import error, in the student's file
    # tests.py itself raised while loading, before any student code ran: the assignment's.
    tests_error: str | None = None
    memory_limit: bool = False
    memory_test: str | None = None
    stopped: tuple[Outcome, str] | None = None  # the judge ended the run early
    # Each time the student process failed.
    student_failures: list[StudentFailureReport] = field(default_factory=list)
    # Told after each accepted start or result of a test: what progress is made of.
    on_change: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def progress(self) -> RunProgress:
        """The tests finished so far and the one running: only lines that passed every
        check above (nonce, expected test, first report) count, so progress shows
        nothing the judge did not say."""
        return RunProgress(
            total=len(self.expected), finished=tuple(self.tests.values()), running=self.running
        )

    def add_line(self, line: bytes) -> None:
        if self.nonce.encode() not in line:  # cheap rejection of anything printed blindly
            return
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            return
        if not isinstance(event, dict) or event.get("nonce") != self.nonce:
            return
        self._apply(event)

    def _apply(self, event: dict[str, object]) -> None:
        kind = event.get("event")
        if kind == "ready":
            self.ready = True
        if not self.ready or self.finished:
            return
        test = event.get("test")
        if kind == "start" and isinstance(test, str) and test in self.expected:
            if test not in self.tests:
                self.running = test
                self._changed()
        elif kind == "test" and isinstance(test, str):
            if self._add_test(test, event):
                self._changed()
        elif kind == "output" and isinstance(test, str) and test in self.expected:
            text = event.get("text")
            kept = optional_text(text, TEST_OUTPUT_LIMIT) or ""
            # The judge sends one character past the limit when it cut the output.
            if isinstance(text, str) and len(text) > TEST_OUTPUT_LIMIT:
                kept += "\n" + OUTPUT_CUT_NOTE
            self.outputs[test] = kept
        elif kind == "fixture":
            self.fixture_problems.append(clean_text(event.get("message")))
        elif kind == "memory_limit":
            self.memory_limit = True
            self.memory_test = test if isinstance(test, str) and test in self.expected else None
        elif kind == "syntax_error":
            self.syntax_error = clean_text(event.get("message")) or "SyntaxError"
            self.error_line = line_number(event.get("line"))
            self.finished = True
        elif kind == "import_error":
            self.import_error = clean_text(event.get("message")) or "Importing your code failed."
            self.error_line = line_number(event.get("line"))
            self.finished = True
        elif kind == "tests_error":
            self.tests_error = clean_text(event.get("message")) or "an unknown error"
            self.finished = True
        elif kind == "student_failure":
            failure = event.get("kind")
            if failure in _STUDENT_FAILURES and len(self.student_failures) < 100:
                where = test if isinstance(test, str) and test in self.expected else None
                self.student_failures.append(
                    StudentFailureReport(
                        str(failure),
                        where,
                        clean_text(event.get("message")),
                        code_name(event.get("function")),
                    )
                )
        elif kind == "stopped":
            outcome = event.get("outcome")
            if outcome in _STUDENT_FAILURES:
                self.stopped = (outcome, clean_text(event.get("message")))  # type: ignore[assignment]
                self.finished = True
        elif kind == "done":
            self.done = self.finished = True

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _add_test(self, test: str, event: dict[str, object]) -> bool:
        """Whether the test's result was taken (the first of an expected test)."""
        outcome = event.get("outcome")
        checked = _REPORTED_OUTCOMES.get(outcome) if isinstance(outcome, str) else None
        if test not in self.expected or test in self.tests or checked is None:
            if len(self.unexpected) < 100:  # enough to explain; a flood must not grow memory
                self.unexpected.append(clean_text(test))
            return False
        passed = checked == "passed"
        expected = optional_text(event.get("expected"), DETAIL_LIMIT)
        actual = optional_text(event.get("actual"), DETAIL_LIMIT)
        compared = not passed and expected is not None and actual is not None
        self.tests[test] = TestResult(
            test,
            checked,
            "" if passed else clean_text(event.get("message")),
            description=optional_text(event.get("description"), DESCRIPTION_LIMIT) or "",
            expected=expected if compared else None,
            actual=actual if compared else None,
            note=(optional_text(event.get("note"), DETAIL_LIMIT) or "") if compared else "",
            line=None if passed else line_number(event.get("line")),
            output=self.outputs.pop(test, ""),
        )
        if self.running == test:
            self.running = None
        return True


@dataclass(frozen=True)
class ProcessEnd:
    """How the sandboxed process ended, as seen by the parent."""

    returncode: int
    timed_out: bool  # we killed it at the wall-clock limit
    duration_ms: int
    stdout: str
    stderr: str


def decide(spec: RunSpec, report: HarnessReport, end: ProcessEnd) -> RunResult:
    """The run's outcome; the first matching rule below wins."""
    tests = {
        test_id: report.tests.get(test_id, TestResult(test_id, "not_run", ""))
        for test_id in spec.test_ids
    }

    def result(
        outcome: Outcome, message: str, line: int | None = None, function: str | None = None
    ) -> RunResult:
        return RunResult(
            outcome=outcome,
            tests=tuple(tests.values()),
            message=message,
            stdout=end.stdout,
            stderr=end.stderr,
            duration_ms=end.duration_ms,
            line=line,
            function=function,
        )

    def interrupt_running(message: str) -> str:
        """Mark the test that was running when the run stopped; return its id."""
        if report.running is None:
            return ""
        tests[report.running] = TestResult(report.running, "error", message)
        return report.running

    if not report.ready:
        # The judge reports ready before any student code runs: this is our failure.
        last_error = end.stderr.strip().splitlines()[-1:] or [describe_exit(end.returncode)]
        return result(
            "internal_error",
            bound_message(f"The grader failed before running your code: {last_error[0]}"),
        )
    if report.tests_error is not None:
        # Not run against any test: nothing here is a verdict on the submitted code.
        return tests_error_result(spec, report.tests_error, end)
    if report.syntax_error is not None:
        return result("syntax_error", report.syntax_error, report.error_line)
    if report.import_error is not None:
        return result("import_error", report.import_error, report.error_line)
    if report.stopped is not None:
        return result(*report.stopped)
    # What a student reads when a limit stopped the run: how far it got, and where.
    finished = f"{len(report.tests)} of {len(spec.test_ids)} tests had finished"

    def named(test_id: str) -> str:
        reported = report.tests.get(test_id)
        return readable_name(test_id, reported.description if reported else "")

    if end.timed_out:
        running = interrupt_running("The time limit was reached while this test was running.")
        still = f", and {named(running)} was still running" if running else ""
        return result(
            "timeout",
            f"Stopped after {spec.time_limit_s:.1f} s (the time limit): {finished}{still}.",
        )
    if report.memory_limit:
        running = interrupt_running("The memory limit was reached while this test was running.")
        test = report.memory_test or running
        where = f" in {named(test)}" if test else ""
        return result(
            "memory_limit",
            f"Your code used more than {spec.memory_mb} MB of memory{where}: {finished}.",
        )
    if not report.done and _hit_cpu_limit(spec, end):
        running = interrupt_running("The CPU time limit was reached while this test was running.")
        still = f", and {named(running)} was still running" if running else ""
        return result(
            "timeout",
            f"Stopped after {spec.cpu_limit_s} s of processor time (the limit): {finished}{still}.",
        )
    if not report.done:
        running = interrupt_running("Your program exited while this test was running.")
        pending = [test_id for test_id in spec.test_ids if test_id not in report.tests]
        if running:
            where = f"while running {running}"
        elif pending:
            where = f"before {pending[0]} ran"
        else:
            where = "after the last test"
        exit_status = describe_exit(end.returncode)
        return result(
            "crashed", f"Your program exited before the tests finished ({where}; {exit_status})."
        )
    missing = [test_id for test_id in spec.test_ids if test_id not in report.tests]
    if missing or report.unexpected:
        details = []
        if missing:
            details.append(f"missing {', '.join(missing[:5])}")
        if report.unexpected:
            details.append(f"unexpected {', '.join(report.unexpected[:5])}")
        return result(
            "crashed",
            bound_message(f"The run did not report the expected tests ({'; '.join(details)})."),
        )
    counted = [test for test in tests.values() if test.outcome != "skipped"]
    total, passed = len(counted), sum(1 for test in counted if test.outcome == "passed")
    skipped = len(tests) - total
    if report.student_failures:
        failure = report.student_failures[0]
        outcome, message = _student_failure(spec, failure, named, passed, total)
        function = failure.function if failure.kind == "timeout" else None
        return result(outcome, message, function=function)
    if passed == total and report.fixture_problems:
        return result(
            "failed", bound_message(f"All tests passed, but {report.fixture_problems[0]}")
        )
    also = f" ({skipped} skipped)" if skipped else ""
    if passed == total:
        if total == 1:
            return result("passed", f"The test passed{also}.")
        return result("passed", f"All {total} tests passed{also}.")
    return result("failed", f"{passed} of {total} tests passed{also}.")


def tests_error_result(spec: RunSpec, error: str, end: ProcessEnd) -> RunResult:
    """An error of the assignment's tests, which the judge could not load: the
    grader's ``internal_error``, recorded as such without a retry (it would meet it
    again), every test not run, and said to be no fault of the submitted code."""
    message = (
        f"The assignment's tests could not be loaded: {error}. This is a problem of the "
        "assignment's tests, not of the submitted code; no test counts for this run."
    )
    return RunResult(
        outcome="internal_error",
        tests=tuple(TestResult(test_id, "not_run", "") for test_id in spec.test_ids),
        message=bound_message(message),
        stdout=end.stdout,
        stderr=end.stderr,
        duration_ms=end.duration_ms,
        assignment_error=True,
    )


def _student_failure(
    spec: RunSpec,
    failure: StudentFailureReport,
    named: Callable[[str], str],
    passed: int,
    total: int,
) -> tuple[Outcome, str]:
    """The run's outcome and message when the student process failed during a test
    (``named``: a test as students read it)."""
    kind, message = failure.kind, failure.message
    test = named(failure.test) if failure.test else None
    tally = f" {passed} of {total} tests passed."
    if kind == "timeout":
        stopped = f"The test {test} was stopped" if test else "A test was stopped"
        where = (
            f" Look for a loop that never ends in `{failure.function}`." if failure.function else ""
        )
        return "timeout", f"{stopped}: it ran longer than one test may.{tally}{where}"
    if kind == "memory_limit":
        where = f" in the test {test}" if test else ""
        return (
            "memory_limit",
            f"Your code used more than {spec.memory_mb} MB of memory{where}.{tally}",
        )
    return "crashed", bound_message(f"{message}{tally}")


def _hit_cpu_limit(spec: RunSpec, end: ProcessEnd) -> bool:
    """Whether RLIMIT_CPU ended the process.

    With soft = hard the kernel sends SIGKILL (SIGXCPU only if the limits differ).
    We did not send it, and RLIMIT_AS fails allocations long before the OOM killer
    acts; but student code can SIGKILL itself, so also require that the process
    could have used that much CPU time in the time it ran, on the CPUs it may use.
    """
    if end.timed_out or end.returncode not in (-signal.SIGXCPU, -signal.SIGKILL):
        return False
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return end.duration_ms / 1000 * (cpus or 1) >= spec.cpu_limit_s


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"
