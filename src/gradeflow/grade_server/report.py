"""What ``gradeflow grade`` prints and exits with, computed the same way whether the
call grades on its own or through the warm grader (``server``)."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gradeflow.courses.format import AssignmentFormatError, AssignmentSpec, load_assignment
from gradeflow.errors import GradeflowError
from gradeflow.grading.sandbox import RunResult
from gradeflow.grading.verdicts import (
    check_code_size,
    compute_score,
    status_for,
    validate_code,
)


@dataclass(frozen=True)
class GradeReport:
    """The command's whole effect: its standard output and error, and its exit code."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""

    def to_wire(self) -> dict[str, object]:
        return {"exit": self.exit_code, "stdout": self.stdout, "stderr": self.stderr}


class GradeRefused(Exception):
    """The assignment or the code cannot be graded; ``report`` says why (exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.report = refusal(message)


def refusal(message: str) -> GradeReport:
    return GradeReport(2, stderr=message + "\n")


def read_grade_inputs(path: Path, code: Path, *, max_code_bytes: int) -> tuple[AssignmentSpec, str]:
    """The assignment at ``path`` and the code in ``code``, checked; relative paths
    are the caller's, so the server reads them from the caller's directory."""
    try:
        assignment = load_assignment(path)
    except AssignmentFormatError as exc:
        raise GradeRefused(f"{path} is invalid:\n{exc.message}") from exc
    try:
        source = validate_code(
            _read_code(code, max_bytes=max_code_bytes).decode("utf-8"), max_bytes=max_code_bytes
        )
    except OSError as exc:
        raise GradeRefused(f"cannot read {code}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise GradeRefused(f"{code} is not valid UTF-8 text") from exc
    except GradeflowError as exc:
        raise GradeRefused(f"{code}: {exc.message}") from exc
    return assignment, source


def _read_code(code: Path, *, max_bytes: int) -> bytes:
    """At most ``max_bytes`` of ``code``, a regular file; a larger file is refused
    unread, so a huge file costs no memory and ``/dev/zero`` no endless read."""
    # O_NONBLOCK: opening a FIFO without a writer would wait forever. Only regular
    # files are read; a pipe or device would also mean the warm grader reading its
    # own descriptors (/dev/stdin, /dev/fd/N) rather than the caller's.
    fd = os.open(code, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise GradeRefused(f"{code} is not a regular file")
        check_code_size(info.st_size, max_bytes=max_bytes)
        data = file.read(max_bytes + 1)  # it may have grown since the fstat
    check_code_size(max(len(data), info.st_size), max_bytes=max_bytes)
    return data


def graded_report(assignment: AssignmentSpec, result: RunResult, *, as_json: bool) -> GradeReport:
    """The verdict as the command prints it; exit 0 iff the code passed."""
    score = compute_score(points=assignment.points, scoring=assignment.scoring, result=result)
    status = status_for(result).value
    lines: list[str] = []
    if as_json:
        payload = {"status": status, "score": score, "max_score": assignment.points}
        lines.append(json.dumps(payload | result.to_dict(), indent=2))
    else:
        verdict = f"{status.upper()} — {result.message}"
        lines.append(f"{assignment.title}: {verdict} (score {score:g}/{assignment.points})")
        for test in result.tests:
            mark = "✓" if test.outcome == "passed" else "✗"
            lines.append(f"  {mark} {test.id} [{test.outcome}]")
            lines.extend(f"      {line}" for line in test.message.splitlines())
        if result.stdout:
            lines.append("--- stdout ---\n" + result.stdout)
        if result.stderr:
            lines.append("--- stderr ---\n" + result.stderr)
    return GradeReport(0 if status == "passed" else 1, stdout="".join(f"{ln}\n" for ln in lines))
