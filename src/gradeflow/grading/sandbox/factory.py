"""Choose the sandbox a worker runs: the secure one, or the insecure one only if asked.

``namespaces_unavailable_reason`` answers whether ``ZygoteSandbox`` works on this
host by checking the prerequisites and then grading a tiny assignment through a
real zygote, so a kernel or container that refuses any step is found at start-up,
with the step named, rather than at the first submission.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import threading

import structlog

from gradeflow.grading.sandbox.results import RunResult
from gradeflow.grading.sandbox.runner import ProcessSandbox
from gradeflow.grading.sandbox.seccomp import native_abi
from gradeflow.grading.sandbox.secure import ZygoteSandbox
from gradeflow.grading.sandbox.spec import RunSpec, Sandbox

log = structlog.get_logger(__name__)

_PROBE_TESTS = b"""\
import unittest
from probe import answer

class ProbeTest(unittest.TestCase):
    def test_answer(self):
        self.assertEqual(answer(), 42)
"""


class SandboxUnavailable(RuntimeError):
    """The secure sandbox cannot run on this host."""


def namespaces_unavailable_reason() -> str | None:
    """None when ``ZygoteSandbox`` can run here; else one sentence saying why not."""
    return _reason()


@functools.cache
def _reason() -> str | None:
    if sys.platform != "linux":
        return "The secure sandbox needs Linux namespaces and seccomp; this is not Linux."
    if native_abi() is None:
        return f"The secure sandbox has no seccomp filter for this machine ({os.uname().machine})."
    if os.geteuid() != 0:
        return (
            "The secure sandbox must be started as root: it builds each run's namespaces "
            "and runs every grader slot as its own unprivileged uid."
        )
    if not os.path.exists("/proc/self/ns/user"):
        return "This kernel has no user namespaces, which the secure sandbox needs."
    try:
        result = _probe()
    except Exception as exc:
        return f"The secure sandbox could not start here: {exc}."
    if result.outcome != "passed":
        return f"The secure sandbox failed its self-test here: {result.message}"
    return None


def _probe() -> RunResult:
    """Grade a one-test assignment in a real zygote, in a thread with its own loop
    (the caller may be inside a running event loop)."""
    spec = RunSpec(
        files={"tests.py": _PROBE_TESTS, "probe.py": b"def answer():\n    return 42\n"},
        module="probe",
        test_ids=["ProbeTest.test_answer"],
        time_limit_s=10,
        memory_mb=256,
    )
    outcome: list[RunResult | BaseException] = []

    async def probe() -> RunResult:
        sandbox = ZygoteSandbox(slots=1)
        try:
            return await sandbox.run(spec)
        finally:
            await sandbox.close()

    def target() -> None:
        try:
            outcome.append(asyncio.run(probe()))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, name="sandbox-probe")
    thread.start()
    thread.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def create_sandbox(*, slots: int, insecure: bool) -> Sandbox:
    """The secure sandbox; ``ProcessSandbox`` only if unavailable and ``insecure``."""
    reason = namespaces_unavailable_reason()
    if reason is None:
        return ZygoteSandbox(slots=slots)
    if not insecure:
        raise SandboxUnavailable(
            f"{reason} Refusing to grade without isolation; pass --insecure-sandbox "
            "to use the unisolated sandbox for development only."
        )
    log.warning(
        "sandbox.INSECURE",
        reason=reason,
        consequence="student code runs with the worker's uid, filesystem and network; "
        "never use this with untrusted submissions",
    )
    return ProcessSandbox()
