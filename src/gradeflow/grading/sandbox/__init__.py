"""Run a submission's tests in isolation and report per-test outcomes.

Pure: imports nothing else of gradeflow and reads no settings, so it can be tested,
benchmarked and replaced on its own. ``ProcessSandbox`` is the provisional
implementation of the ``Sandbox`` interface.
"""

from __future__ import annotations

from gradeflow.grading.sandbox.discovery import TestDiscoveryError, discover_test_ids
from gradeflow.grading.sandbox.results import Outcome, RunResult, TestOutcome, TestResult
from gradeflow.grading.sandbox.runner import ProcessSandbox
from gradeflow.grading.sandbox.spec import RunSpec, Sandbox

__all__ = [
    "Outcome",
    "ProcessSandbox",
    "RunResult",
    "RunSpec",
    "Sandbox",
    "TestDiscoveryError",
    "TestOutcome",
    "TestResult",
    "discover_test_ids",
]
