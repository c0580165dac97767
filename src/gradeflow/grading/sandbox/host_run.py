"""The host side of one run, the same for both sandboxes.

``run_judged`` stages the run's files, opens the pipes it writes to, has the
sandbox start it, waits for its end, and decides the verdict from what the judge
reported and how the run ended; then it stops whatever is left and removes the
files. What differs between ``ProcessSandbox`` and ``ZygoteSandbox`` — where a run
is staged, how it is started, how its end is learnt and how it is stopped early —
is a ``Launch``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import structlog

from gradeflow.grading.sandbox.pipes import READ_PAUSE_S, RunPipes
from gradeflow.grading.sandbox.results import ProgressCallback, RunResult, TestResult
from gradeflow.grading.sandbox.spec import JUDGE_EXTRA_MB, RunSpec
from gradeflow.grading.sandbox.staging import remove_workdir, write_views

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Exit:
    """How a run's judge process ended, as its sandbox saw it."""

    returncode: int
    timed_out: bool  # the sandbox killed it at the wall-clock limit
    duration_ms: int
    # The judge's own cgroup limits that stopped something in it ("memory": the kernel
    # killed it; "processes": a fork or thread was refused): the tests', not the student's.
    grader_limits: tuple[str, ...] = ()


class Launch(Protocol):
    """One run as one sandbox carries it out; ``run_judged`` does the rest."""

    # Readers of the pipes the run writes to besides stdout, stderr and the result
    # channel, in the order of their write ends.
    extra_readers: tuple[Callable[[bytes], None], ...]
    # Whether the run can write below its staging directory. If it cannot, the
    # directory holds only the files written before the run, and is removed as they
    # were written, without handing the work to a thread and back.
    run_writes_staging: bool

    async def make_staging(self) -> str:
        """A new, empty directory for the run's files."""
        ...

    async def start(self, staging: str, nonce: str, write_ends: list[int]) -> None:
        """Start the run on ``write_ends`` (stdout, stderr, the result channel, then
        one per extra reader); once this returns, the run holds them."""
        ...

    async def wait(self, pipes: RunPipes) -> Exit | str:
        """Wait until no process of the run is left; how it ended, or why the
        sandbox failed."""
        ...

    async def abort(self, pipes: RunPipes) -> None:
        """Cancelled or failed mid-run: stop it and wait until it is reaped (nothing
        to do once ``wait`` returned)."""
        ...


async def run_judged(
    spec: RunSpec, launch: Launch, on_progress: ProgressCallback | None = None
) -> RunResult:
    """Run ``spec``'s tests through ``launch``; a failure of the sandbox itself
    (``OSError``) becomes an ``internal_error`` result. ``on_progress`` hears once
    when the run has started, then of each test the judge starts or finishes."""
    staging: str | None = None
    try:
        staging = await launch.make_staging()
        write_views(staging, spec)
        return await _run_staged(spec, staging, launch, on_progress)
    except OSError as exc:
        log.exception("sandbox.failed", staging=staging)
        # A TimeoutError (the zygote did not start in time) has no text of its own.
        return internal_error(spec, f"The sandbox failed: {exc or type(exc).__name__}")
    finally:
        if staging is not None and not launch.run_writes_staging:
            remove_workdir(staging)
        elif staging is not None:
            # In a thread: a student can leave many files behind, and the event loop
            # serves other runs meanwhile.
            await asyncio.to_thread(remove_workdir, staging)


async def _run_staged(
    spec: RunSpec, staging: str, launch: Launch, on_progress: ProgressCallback | None
) -> RunResult:
    nonce = secrets.token_urlsafe(24)
    pipes = RunPipes(spec, nonce, on_progress, pause_s=READ_PAUSE_S)
    try:
        write_ends = await pipes.open(*launch.extra_readers)
        await launch.start(staging, nonce, write_ends)
        pipes.handed_over()
        pipes.report_progress()  # started: no longer waiting for a slot
        ended = await launch.wait(pipes)
        if isinstance(ended, str):
            return internal_error(spec, ended)
        await pipes.drain()
        judged = pipes.result(
            returncode=ended.returncode, timed_out=ended.timed_out, duration_ms=ended.duration_ms
        )
        if ended.grader_limits:
            return grader_limit_error(spec, judged, ended.grader_limits)
        return judged
    finally:
        pipes.handed_over()
        await launch.abort(pipes)
        pipes.close()


def judge_config(spec: RunSpec, nonce: str) -> dict[str, object]:
    """What the judge is told of the run, in either sandbox; it holds the nonce, so
    it reaches the judge by a way the student process never sees."""
    return {
        "nonce": nonce,
        "module": spec.module,
        "test_ids": list(spec.test_ids),
        "time_limit_s": spec.time_limit_s,
        "memory_mb": spec.memory_mb,
    }


def grader_limit_error(spec: RunSpec, judged: RunResult, limits: tuple[str, ...]) -> RunResult:
    """The run's result when the judge reached its own cgroup limits: an error of the
    grader that no test passed, whatever the judge reported (it may have lost tests,
    or finished without a thread it needed), and never a verdict on the student."""
    used = []
    if "memory" in limits:
        judge_mb = spec.judge_memory_bytes // (1024 * 1024)
        used.append(
            f"more than the {judge_mb} MB of memory the grader may use (the assignment's "
            f"{spec.memory_mb} MB and {JUDGE_EXTRA_MB} MB for the tests)"
        )
    if "processes" in limits:
        used.append("more processes or threads than the grader may start")
    message = (
        f"The grader stopped: the tests themselves used {' and '.join(used)}. "
        "This is a problem of the assignment's tests, not of the submitted code; "
        "no test counts for this run."
    )
    return replace(
        internal_error(spec, message),
        stdout=judged.stdout,
        stderr=judged.stderr,
        duration_ms=judged.duration_ms,
        assignment_error=True,
    )


def internal_error(spec: RunSpec, message: str) -> RunResult:
    """The result of a run the sandbox failed to carry out: no test ran."""
    return RunResult(
        outcome="internal_error",
        tests=tuple(TestResult(test_id, "not_run", "") for test_id in spec.test_ids),
        message=message,
        stdout="",
        stderr="",
        duration_ms=0,
    )
