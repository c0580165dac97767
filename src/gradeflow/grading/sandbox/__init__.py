"""Run a submission's tests in isolation and report per-test outcomes.

Pure: imports nothing else of gradeflow and reads no settings, so it can be tested,
benchmarked and replaced on its own. ``ZygoteSandbox`` is the secure implementation
of the ``Sandbox`` interface (namespaces, per-slot uids, rlimits, seccomp, from a
warm fork server); ``ProcessSandbox`` is the unisolated development fallback.
``start_sandbox`` picks between them.
"""

from __future__ import annotations

from gradeflow.grading.sandbox.factory import (
    SandboxUnavailable,
    namespaces_unavailable_reason,
    start_sandbox,
)
from gradeflow.grading.sandbox.process import ProcessSandbox
from gradeflow.grading.sandbox.results import (
    Outcome,
    ProgressCallback,
    RunProgress,
    RunResult,
    TestOutcome,
    TestResult,
)
from gradeflow.grading.sandbox.spec import OUTPUT_LIMIT_BYTES, RunSpec, Sandbox
from gradeflow.grading.sandbox.zygote_client import ZygoteSandbox

__all__ = [
    "OUTPUT_LIMIT_BYTES",
    "Outcome",
    "ProcessSandbox",
    "ProgressCallback",
    "RunProgress",
    "RunResult",
    "RunSpec",
    "Sandbox",
    "SandboxUnavailable",
    "TestOutcome",
    "TestResult",
    "ZygoteSandbox",
    "namespaces_unavailable_reason",
    "start_sandbox",
]
