"""The host the attacks try to reach: canary files, a secret, a sandbox to attack."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gradeflow.grading.sandbox import ZygoteSandbox, namespaces_unavailable_reason
from tests.grading.sandbox.leftovers import files_owned_by

# Where a run that got out could leave files for others to find.
SHARED_DIRS = ("/tmp", "/dev/shm", "/run")


@dataclass
class Host:
    secret: str
    canary_dir: Path
    canaries: dict[Path, str]  # path -> sha256 of its content
    sandbox: ZygoteSandbox
    # Unprivileged, runs are our uid: what of ours was in SHARED_DIRS before them.
    own_files: set[str]

    def canary_digests(self) -> dict[Path, str]:
        return {path: _digest(path) for path in self.canaries}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    reason = namespaces_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    secret = f"gradeflow-canary-{secrets.token_hex(8)}"
    canary_dir = tmp_path_factory.mktemp("host")
    (canary_dir / "gradeflow.sqlite3").write_text(f"SQLite format 3 {secret}")
    (canary_dir / "settings.env").write_text(f"GRADEFLOW_SECRET_KEY={secret}\n")
    previous = os.environ.get("GRADEFLOW_SECRET_KEY")
    # In the worker's environment while the sandbox starts and runs.
    os.environ["GRADEFLOW_SECRET_KEY"] = secret
    sandbox = ZygoteSandbox(slots=2)
    asyncio.run(sandbox.start())
    assert sandbox.runs_dir is not None
    # Another submission, staged as the sandbox stages runs.
    other = Path(sandbox.runs_dir, "run-other-submission", "task")
    other.mkdir(parents=True)
    (other / "two_fer.py").write_text(f"# {secret}\n")
    canaries = {path: _digest(path) for path in canary_dir.iterdir()}
    canaries[other / "two_fer.py"] = _digest(other / "two_fer.py")
    own_files = set(files_owned_by((os.getuid(),), *SHARED_DIRS))
    try:
        yield Host(secret, canary_dir, canaries, sandbox, own_files)
    finally:
        asyncio.run(sandbox.close())
        if previous is None:
            os.environ.pop("GRADEFLOW_SECRET_KEY", None)
        else:
            os.environ["GRADEFLOW_SECRET_KEY"] = previous
