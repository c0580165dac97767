"""What to run (``RunSpec``) and the interface every sandbox implementation offers."""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gradeflow.grading.sandbox.results import ProgressCallback, RunResult

TESTS_FILE = "tests.py"
JUDGE_EXTRA_MB = 256
FILE_SIZE_LIMIT = 16 * 1024 * 1024
OPEN_FILES_LIMIT = 64
# What is kept of a run's stdout, and of its stderr, by default. The sandbox
# imports no settings; the deployment's limit (GRADEFLOW_OUTPUT_LIMIT_BYTES) is
# passed in each RunSpec.
OUTPUT_LIMIT_BYTES = 64 * 1024
_TEST_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class RunSpec:
    """One grading run: the files to lay out, the module under test and the limits.

    An invalid spec is a programming error upstream, so it raises ``ValueError`` on
    construction rather than becoming a run outcome.
    """

    files: Mapping[str, bytes]
    module: str
    test_ids: Sequence[str]
    time_limit_s: float
    memory_mb: int
    output_limit_bytes: int = OUTPUT_LIMIT_BYTES

    def __post_init__(self) -> None:
        if not self.module.isidentifier() or keyword.iskeyword(self.module):
            raise ValueError(f"module must be a Python identifier, not {self.module!r}")
        if self.module == "tests":
            raise ValueError("the student module cannot be called 'tests'")
        for required in (TESTS_FILE, f"{self.module}.py"):
            if required not in self.files:
                raise ValueError(f"files must contain {required}")
        for path in self.files:
            check_relative_path(path)
        if under_files := paths_under_files(self.files):
            clashes = sorted(set(under_files.values()))
            raise ValueError(f"paths used both as file and directory: {clashes}")
        if not self.test_ids:
            raise ValueError("test_ids must not be empty")
        for test_id in self.test_ids:
            if not is_test_id(test_id):
                raise ValueError(f"test ids look like 'ClassName.test_method', not {test_id!r}")
        if len(set(self.test_ids)) != len(self.test_ids):
            raise ValueError("test_ids must be unique")
        if not self.time_limit_s > 0:
            raise ValueError("time_limit_s must be positive")
        if self.memory_mb <= 0:
            raise ValueError("memory_mb must be positive")
        if self.output_limit_bytes < 0:
            raise ValueError("output_limit_bytes must not be negative")

    @property
    def judge_files(self) -> dict[str, bytes]:
        """What the judge sees: everything but the student's module."""
        student = f"{self.module}.py"
        return {path: data for path, data in self.files.items() if path != student}

    @property
    def student_files(self) -> dict[str, bytes]:
        """What the student process sees: everything but the tests."""
        return {path: data for path, data in self.files.items() if path != TESTS_FILE}

    @property
    def output_limit_in_run(self) -> int:
        """What the run's processes are told to write of stdout and stderr at most: one
        character more than is kept, and the surplus marks the output truncated."""
        return self.output_limit_bytes + 1

    @property
    def judge_memory_bytes(self) -> int:
        """The judge's address-space limit: the tests' own needs, and room to decode
        the largest value the student may send (wire.MAX_FRAME_BYTES) many times over."""
        return (self.memory_mb + JUDGE_EXTRA_MB) * 1024 * 1024

    def rlimits(self, *, address_space_bytes: int, processes: int | None = None) -> dict[str, int]:
        """The rlimits of one of the run's processes, as the jail and judge take them."""
        limits = {
            "cpu_s": self.cpu_limit_s,
            "address_space_bytes": address_space_bytes,
            "file_size_bytes": FILE_SIZE_LIMIT,
            "open_files": OPEN_FILES_LIMIT,
        }
        if processes is not None:
            limits["processes"] = processes
        return limits

    @property
    def cpu_limit_s(self) -> int:
        """RLIMIT_CPU: a second above the wall-clock limit, so the wall clock normally
        fires first; it still stops threads that burn several CPUs at once."""
        return math.ceil(self.time_limit_s) + 1


def check_relative_path(path: str) -> None:
    """Raise ``ValueError`` unless ``path`` stays inside the directory it is joined to."""
    if not path or "\0" in path or path.startswith("/"):
        raise ValueError(f"not a relative path: {path!r}")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise ValueError(f"path must not contain empty, '.' or '..' parts: {path!r}")


def is_test_id(test_id: str) -> bool:
    """Whether the judge can run ``test_id``: ``ClassName.test_method``, in ASCII."""
    return _TEST_ID.match(test_id) is not None


def paths_under_files(paths: Iterable[str]) -> dict[str, str]:
    """Each of ``paths`` that a file of ``paths`` would have to be a directory of, with
    that file: such files cannot be laid out (``courses.format`` refuses them too)."""
    files = set(paths)
    under: dict[str, str] = {}
    for path in files:
        parts = path.split("/")
        parent = next(
            (p for i in range(1, len(parts)) if (p := "/".join(parts[:i])) in files), None
        )
        if parent is not None:
            under[path] = parent
    return under


class Sandbox(Protocol):
    """Runs a submission's tests in isolation; student behaviour never raises.

    ``run`` may be awaited concurrently up to the number of slots the sandbox was
    created with; ``on_progress`` hears when the run starts (a slot was free) and of
    each test as the judge reports it. ``start`` prepares it (a worker calls it before taking jobs, so a
    broken host fails early); ``close`` releases everything it holds.
    """

    async def start(self) -> None: ...

    async def run(
        self, spec: RunSpec, *, on_progress: ProgressCallback | None = None
    ) -> RunResult: ...

    async def close(self) -> None: ...
