"""What a run may leave on the host: its processes and files, in either sandbox mode.

As root, a run's processes are those of its slot's uids, wherever they are on the
host. Unprivileged, every run is the invoking user, like the tests themselves, so
a run's processes are told apart by where they are and what they hold: every one
of them descends from the zygote (a PID namespace's orphans go to its init, the
run's first process, and the run's namespace dies with it) and has given up every
capability, whereas the zygote and its spare children keep theirs until a run
arrives.
"""

from __future__ import annotations

import os
from pathlib import Path

from gradeflow.grading.sandbox import ZygoteSandbox


def processes_of(uids: tuple[int, ...]) -> list[int]:
    """Host processes running as any of ``uids`` (real, effective, saved or fs uid)."""
    found = []
    for pid, status in _statuses().items():
        if any(int(uid) in uids for uid in status["Uid"].split()):
            found.append(pid)
    return found


def run_processes(sandbox: ZygoteSandbox) -> list[int]:
    """The processes of ``sandbox``'s runs still on the host."""
    if sandbox.privileged:
        return processes_of(sandbox.uids)
    zygote = sandbox.zygote_pid
    if zygote is None:
        return []
    statuses = _statuses()
    children: dict[int, list[int]] = {}
    for pid, status in statuses.items():
        children.setdefault(int(status["PPid"]), []).append(pid)
    found, pending = [], list(children.get(zygote, []))
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, []))
        if int(statuses[pid]["CapEff"], 16) == 0:
            found.append(pid)
    return found


def files_owned_by(uids: tuple[int, ...], *directories: str) -> list[str]:
    found = []
    for directory in directories:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    owner = entry.stat(follow_symlinks=False).st_uid
                except FileNotFoundError:
                    continue  # another process's file, removed meanwhile
                if owner in uids:
                    found.append(entry.path)
    return found


def _statuses() -> dict[int, dict[str, str]]:
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            text = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        found[int(name)] = {key: value.strip() for key, value in fields.items()}
    return found
