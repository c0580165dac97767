"""A run's files on the host: laying out each process's view, and removing them after.

Both sandboxes stage a run the same way: a directory of its own holding the judge's
view (the tests and support files, never the student's module) and the student's
(its module and the support files, never the tests). Everything here must hold up
against what a run can leave behind in that directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

import structlog

from gradeflow.grading.sandbox.jailed.jail import JUDGE_VIEW, STUDENT_VIEW
from gradeflow.grading.sandbox.spec import RunSpec, check_relative_path

log = structlog.get_logger(__name__)


def write_views(staging: str, spec: RunSpec) -> None:
    """Lay out the judge's and the student's views of ``spec`` in ``staging``."""
    for view, files in ((JUDGE_VIEW, spec.judge_files), (STUDENT_VIEW, spec.student_files)):
        directory = os.path.join(staging, view)
        os.mkdir(directory)
        os.chmod(directory, 0o755)  # noqa: S103 (read, never written, by the run's uids)
        write_files(directory, files)


def write_files(directory: str, files: Mapping[str, bytes]) -> None:
    """Write ``files`` below ``directory``, world-readable (the run reads them as
    another uid)."""
    for path, content in files.items():
        check_relative_path(path)  # again: the mapping may have changed since RunSpec checked it
        target = os.path.join(directory, *path.split("/"))
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            os.makedirs(parent)
            for below in _parents_below(directory, parent):
                os.chmod(below, 0o755)  # noqa: S103 (the run reads them as another uid)
        # O_EXCL | O_NOFOLLOW: never write through anything already at that path.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(target, flags, 0o644), "wb") as file:
            os.fchmod(file.fileno(), 0o644)  # whatever the umask
            file.write(content)


def _parents_below(top: str, directory: str) -> list[str]:
    found = []
    while directory != top and directory.startswith(top + os.sep):
        found.append(directory)
        directory = os.path.dirname(directory)
    return found


def remove_workdir(workdir: str) -> None:
    """Delete a run directory without following links the student code planted.

    On Linux ``rmtree`` walks with directory descriptors and O_NOFOLLOW, so a
    symlink planted inside is unlinked, never followed (the host-side mistake of
    CVE-2024-28185/28189).
    """
    if not shutil.rmtree.avoids_symlink_attacks:
        raise RuntimeError("this platform's shutil.rmtree may follow symlinks")
    for attempt in range(2):
        try:
            shutil.rmtree(workdir)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if attempt:
                log.warning("sandbox.cleanup_failed", workdir=workdir, error=str(exc))
