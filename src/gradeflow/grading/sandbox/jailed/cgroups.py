"""cgroup v2 limits per jailed process, where a delegated subtree with ``pids`` and
``memory`` exists; the zygote uses it, never a run.

Found once when the zygote starts (``Subtree.create``): the zygote's own cgroup
``D`` (the ``0::`` line of ``/proc/self/cgroup``, in a mounted cgroup2
hierarchy) must offer ``pids`` and ``memory`` (``cgroup.controllers``) and be
writable by the zygote: root, or a user's delegated subtree (for example
``systemd-run --user --scope -p Delegate=yes``). Then, respecting the rule that a
cgroup other than the root holds processes or enables controllers for its
children, never both:

- every process of ``D`` (the zygote, the worker that started it, whatever else
  the user ran there) moves to the leaf ``D/gradeflow-leaf``, unless ``D`` is the
  root cgroup or already enables both controllers;
- ``D`` enables ``pids`` and ``memory`` for its children;
- the zygote's subtree ``D/gradeflow-<pid>`` enables them too, and holds one
  cgroup per jailed process (``ProcessCgroup``): ``pids.max``, ``memory.max``,
  ``memory.swap.max = 0`` and ``memory.oom.group = 1`` (an out-of-memory kill
  takes the whole process tree, which the judge then reports as one failure).

Everything is reached through directory descriptors opened here, because the
zygote's later ``pivot_root`` hides ``/sys/fs/cgroup``. Without a usable subtree
``CgroupUnavailable`` says why, and the sandbox keeps its rlimits only.

Standard library only, like everything the zygote imports.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass

CONTROLLERS = ("pids", "memory")
LEAF = "gradeflow-leaf"  # where the processes of the zygote's cgroup go
SUBTREE_PREFIX = "gradeflow-"
# Another process may fork into D between reading and emptying it: try again.
EVACUATION_ATTEMPTS = 5
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class CgroupUnavailable(Exception):
    """No delegated cgroup v2 subtree with pids and memory is usable here."""


def own_cgroup_directory(
    *, mountinfo: str = "/proc/self/mountinfo", cgroup: str = "/proc/self/cgroup"
) -> str:
    """The directory of this process's cgroup in a mounted cgroup v2 hierarchy."""
    path = _unified_path(cgroup)
    if os.path.basename(path) == LEAF:
        # Started from a process that an earlier zygote moved there: the subtree is
        # the leaf's parent, already prepared.
        path = os.path.dirname(path)
    for mount_root, mount_point in _cgroup2_mounts(mountinfo):
        if mount_root == "/":
            relative = path
        elif path == mount_root or path.startswith(mount_root + "/"):
            relative = path[len(mount_root) :]
        else:
            continue
        directory = os.path.normpath(mount_point + "/" + relative.lstrip("/"))
        if os.path.isdir(directory):
            return directory
    raise CgroupUnavailable(
        f"no cgroup v2 hierarchy is mounted where this process's cgroup {path} is"
    )


def check_usable(directory: str) -> None:
    """Raise ``CgroupUnavailable`` unless ``directory`` offers both controllers and this
    process may write the files that delegation hands over."""
    available = _read(os.path.join(directory, "cgroup.controllers")).split()
    missing = [name for name in CONTROLLERS if name not in available]
    if missing:
        offered = " ".join(available) or "none"
        raise CgroupUnavailable(
            f"the cgroup v2 hierarchy at {directory} offers no {' or '.join(missing)} "
            f"controller (it offers: {offered})"
        )
    for name in ("", "cgroup.procs", "cgroup.subtree_control"):
        path = os.path.join(directory, name) if name else directory
        if not os.access(path, os.W_OK):
            raise CgroupUnavailable(f"{path} is not writable: it is not delegated to this user")


@dataclass
class Subtree:
    """The zygote's own cgroup subtree, where its processes' cgroups are made."""

    parent_fd: int  # the zygote's cgroup at start (D)
    fd: int  # D/gradeflow-<pid>
    name: str

    @classmethod
    def create(cls, owner_pid: int) -> Subtree:
        """Find, prepare and enter the subtree (see the module docstring)."""
        directory = own_cgroup_directory()
        check_usable(directory)
        try:
            _enable_controllers(directory)
            _remove_stale_subtrees(directory, owner_pid)
            name = f"{SUBTREE_PREFIX}{owner_pid}"
            path = os.path.join(directory, name)
            os.mkdir(path, 0o755)
            try:
                _write(os.path.join(path, "cgroup.subtree_control"), _enabling())
            except OSError:
                os.rmdir(path)
                raise
            return cls(os.open(directory, _DIRECTORY), os.open(path, _DIRECTORY), name)
        except OSError as exc:
            raise CgroupUnavailable(
                f"preparing the cgroup subtree at {directory} failed: {exc}"
            ) from exc

    def new_process_cgroup(self, name: str, *, memory_bytes: int, processes: int) -> ProcessCgroup:
        """A cgroup for one jailed process and its descendants, with its limits set."""
        os.mkdir(name, 0o755, dir_fd=self.fd)
        try:
            fd = os.open(name, _DIRECTORY, dir_fd=self.fd)
        except OSError:
            os.rmdir(name, dir_fd=self.fd)
            raise
        cgroup = ProcessCgroup(name, fd, self.fd)
        try:
            cgroup.write("pids.max", str(processes))
            cgroup.write("memory.max", str(memory_bytes))
            with contextlib.suppress(FileNotFoundError):  # a kernel without swap accounting
                cgroup.write("memory.swap.max", "0")
            cgroup.write("memory.oom.group", "1")
        except OSError:
            cgroup.remove()
            raise
        return cgroup

    def remove(self) -> bool:
        """Remove the (by now empty) subtree; False if the kernel refused."""
        try:
            os.rmdir(self.name, dir_fd=self.parent_fd)
        except OSError:
            return False
        finally:
            os.close(self.fd)
            os.close(self.parent_fd)
        return True


@dataclass
class ProcessCgroup:
    """One jailed process's cgroup (a judge's or a student process's)."""

    name: str
    fd: int
    subtree_fd: int

    def write(self, name: str, value: str) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)

    def read(self, name: str) -> str:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self.fd)
        try:
            return os.read(fd, 4096).decode()
        finally:
            os.close(fd)

    def add(self, pid: int) -> None:
        """Move ``pid`` (a process of the caller's PID namespace) in."""
        self.write("cgroup.procs", str(pid))

    def open_procs(self) -> int:
        """``cgroup.procs`` open for writing: a forked child writes ``0`` to it to move
        itself in before it does anything else."""
        return os.open("cgroup.procs", os.O_WRONLY | os.O_CLOEXEC, dir_fd=self.fd)

    def exceeded(self) -> list[str]:
        """Which limits stopped something: ``memory`` (the kernel killed for it),
        ``processes`` (a fork or thread was refused)."""
        found = []
        if _count(self.read("memory.events"), "oom_kill") > 0:
            found.append("memory")
        if _count(self.read("pids.events"), "max") > 0:
            found.append("processes")
        return found

    def kill(self) -> None:
        """SIGKILL everything in the cgroup (Linux 5.14+; before, PID 1's death does)."""
        with contextlib.suppress(FileNotFoundError):
            self.write("cgroup.kill", "1")

    def remove(self) -> bool:
        """Remove the cgroup; False while the kernel still counts a process in it (the
        caller tries again later). The descriptor is closed either way."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            os.rmdir(self.name, dir_fd=self.subtree_fd)
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                return False
            raise
        return True


def _enable_controllers(directory: str) -> None:
    """Let ``directory``'s children use both controllers, first moving its processes to
    a leaf unless it is the root cgroup (which may do both; it has no cgroup.type)."""
    control = os.path.join(directory, "cgroup.subtree_control")
    if all(name in _read(control).split() for name in CONTROLLERS):
        return
    is_root = not os.path.exists(os.path.join(directory, "cgroup.type"))
    for attempt in range(EVACUATION_ATTEMPTS):
        if not is_root:
            _move_processes(directory, os.path.join(directory, LEAF))
        try:
            _write(control, _enabling())
            return
        except OSError as exc:
            # EBUSY: a process forked into the directory meanwhile.
            if exc.errno != errno.EBUSY or attempt == EVACUATION_ATTEMPTS - 1:
                raise


def _move_processes(source: str, leaf: str) -> None:
    os.makedirs(leaf, 0o755, exist_ok=True)
    for line in _read(os.path.join(source, "cgroup.procs")).split():
        # 0: a process outside our PID namespace, which we cannot name (the write of
        # subtree_control then fails, and the caller says so).
        if line != "0":
            with contextlib.suppress(ProcessLookupError):
                _write(os.path.join(leaf, "cgroup.procs"), line)


def _remove_stale_subtrees(directory: str, owner_pid: int) -> None:
    """Remove the subtrees of zygotes that no longer exist (killed before their clean-up),
    and an old one named like ours (our pid was that zygote's); a live zygote's are left
    alone, even between runs when they are empty."""
    for entry in os.scandir(directory):
        pid = entry.name[len(SUBTREE_PREFIX) :]
        if not entry.name.startswith(SUBTREE_PREFIX) or not pid.isdigit():
            continue
        if int(pid) != owner_pid and process_exists(int(pid)):
            continue
        with contextlib.suppress(OSError):
            for child in os.scandir(entry.path):
                if child.is_dir(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        _write(os.path.join(child.path, "cgroup.kill"), "1")
                    with contextlib.suppress(OSError):
                        os.rmdir(child.path)
            os.rmdir(entry.path)


def process_exists(pid: int) -> bool:
    """Whether ``pid`` is alive (someone else's counts too); shared with the host side."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unified_path(cgroup: str) -> str:
    with open(cgroup) as file:
        for line in file:
            if line.startswith("0::"):
                return line[3:].rstrip("\n")
    raise CgroupUnavailable(
        "this process is in no cgroup v2 hierarchy (no 0:: line in /proc/self/cgroup)"
    )


def _cgroup2_mounts(mountinfo: str) -> list[tuple[str, str]]:
    """(root within the hierarchy, mount point) of each cgroup2 mount."""
    found = []
    with open(mountinfo) as file:
        for line in file:
            fields = line.split()
            if "-" not in fields:
                continue
            separator = fields.index("-")
            if len(fields) > separator + 1 and fields[separator + 1] == "cgroup2":
                found.append((_unescape(fields[3]), _unescape(fields[4])))
    return found


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def _count(events: str, key: str) -> int:
    for line in events.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _enabling() -> str:
    return " ".join(f"+{name}" for name in CONTROLLERS)


def _read(path: str) -> str:
    with open(path) as file:
        return file.read()


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
