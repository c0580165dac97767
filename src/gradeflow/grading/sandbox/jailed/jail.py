"""Jail the zygote and its children; runs inside them, never in the worker.

Once, in the zygote (``prepare_root``): a private mount namespace whose root is a
small tmpfs holding read-only binds of ``/usr`` and the interpreter's prefix, a
generated ``/etc``, a few device nodes, empty ``/task``, ``/tmp`` and ``/proc``, and
the staging tmpfs at ``/runs``; then ``pivot_root`` into it and detach the
host's tree.

A zygote started by an unprivileged user first becomes root of a user namespace
of its own (``become_namespace_root``), which maps only that user, and then the
init of a PID namespace of its own (``become_pid_namespace_init``); its
namespaces, and the runs' ones made from them, are then owned by that user
namespace instead of the host's. Everything below holds in both modes, with
"host root" read as "root of the zygote's user namespace".

For each run, in a child of the zygote, which starts as host root and as PID 1
of a new PID namespace, in this order:

1. (``isolate``, possibly before the run is known) new mount, IPC, UTS and
   cgroup namespaces, which stay owned by the host's user namespace, so nothing
   inside can ever reconfigure them; a size-limited tmpfs at ``/tmp`` and a procfs
   of its PID namespace;
2. (``join_network``, once the run is known) its slot's network namespace if that
   is free and holds no socket, else a new one; owned by the host's user
   namespace too;
3. (``enter``, from here on) the run's files read-only at ``/task`` (the working
   directory), and ``/runs`` unmounted;
4. as host root: the slot's unprivileged host uid and gid, and the rlimits;
5. a user namespace mapping only itself (uid and gid 1000 inside), then every
   capability that namespace granted is given up; unprivileged, the rlimits
   come only now (see ``_drop_identity``);
6. a parent-death signal, so the run dies with its zygote;
7. the seccomp filter.

Standard library only, like everything the zygote imports. Failures raise
``JailError`` naming the step.
"""

from __future__ import annotations

import functools
import os
import resource
import select
import signal
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from gradeflow.grading.sandbox.jailed import linux, seccomp

TASK_DIR = "/task"
TMP_DIR = "/tmp"  # noqa: S108 (the sandbox's own private tmpfs, not the host's)
INSIDE_ID = 1000
HOSTNAME = "sandbox"
RUNS_DIR = "/runs"  # the staging tmpfs, seen by the zygote (and the worker) only
# A run's staging directory below RUNS_DIR: the read-only view of each of its
# processes, and the judge's configuration (it holds the nonce: read before the
# judge is jailed, never visible inside).
JUDGE_VIEW = "task"
STUDENT_VIEW = "student"
JUDGE_CONFIG = "config.json"
_HIDING_FLAGS = linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
DEVICES = {"null": 3, "zero": 5, "full": 7, "random": 8, "urandom": 9}  # char 1:minor
DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}
# Host directories of the system that may be symbolic links (merged /usr).
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Single files of /etc that programs legitimately read; nothing else of /etc.
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
ROOT_TMPFS = "size=8m,nr_inodes=512,mode=0755"
RUNS_TMPFS = "mode=0700"  # root only; holds the files of the runs in flight
# Unprivileged only: the host's procfs, bound into the zygote's view. The kernel
# lets a user namespace mount a procfs only where one is already fully visible in
# the mount namespace; each run mounts its own at /proc, and this goes away with
# /runs, which every run detaches before it runs anything of the student's.
HOST_PROC = RUNS_DIR + "/.host-proc"
ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": TMP_DIR,
    "TMPDIR": TMP_DIR,
    "USER": "student",
    "LOGNAME": "student",
}


class JailError(RuntimeError):
    """Setting up the jail failed: a host problem, never the student's."""


@dataclass(frozen=True)
class FilesystemView:
    """What of the host the run sees, decided once when the zygote starts."""

    read_only_dirs: tuple[str, ...]  # bound at the same path inside
    links: tuple[tuple[str, str], ...]  # (path, target)
    copied_files: tuple[str, ...]  # of /etc
    etc_links: tuple[tuple[str, str], ...]

    @classmethod
    def for_interpreter(cls, prefixes: tuple[str, ...]) -> FilesystemView:
        """``/usr`` plus the prefixes the interpreter was installed in (e.g. pyenv's)."""
        dirs = ["/usr"]
        links = []
        for path in SYSTEM_LINKS:
            if os.path.islink(path):
                links.append((path, os.readlink(path)))
            elif os.path.isdir(path):
                dirs.append(path)
        for prefix in prefixes:
            real = os.path.realpath(prefix)
            if not any(real == d or real.startswith(d + "/") for d in dirs):
                dirs.append(real)
        copied, etc_links = [], []
        for path in ETC_FILES:
            if os.path.islink(path) and os.readlink(path).startswith("/usr/"):
                etc_links.append((path, os.readlink(path)))  # e.g. the zoneinfo file
            elif os.path.isfile(path):
                copied.append(path)
        return cls(tuple(dirs), tuple(links), tuple(copied), tuple(etc_links))


# Queued signals a run's process may have pending (RLIMIT_SIGPENDING): ordinary
# signals sent by kill() are never refused by it, only the queued real-time ones.
PENDING_SIGNALS = 128


@dataclass(frozen=True)
class Limits:
    cpu_s: int
    address_space_bytes: int
    file_size_bytes: int
    open_files: int
    processes: int

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> Limits:
        return cls(**{name: int(data[name]) for name in cls.__dataclass_fields__})


def prepare_root(*, view: FilesystemView, mount_point: str) -> None:
    """Move the calling zygote into its own mount namespace rooted in the run view.

    Done once: the zygote then already sees only what a run may see, plus the
    staging tmpfs at ``/runs`` (the worker writes there through the zygote's
    ``/proc/PID/root``), so each run copies a namespace of a handful of mounts
    instead of the host's and builds only its own three.
    """
    try:
        linux.unshare(linux.CLONE_NEWNS)
        # Nothing done in this mount namespace may propagate back to the host.
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        linux.mount("tmpfs", mount_point, "tmpfs", linux.MS_NOSUID, ROOT_TMPFS)
        root = mount_point
        for path in view.read_only_dirs:
            _bind(path, root + path, flags=linux.MS_NODEV)
        for path, target in view.links:
            os.symlink(target, root + path)
        _build_etc(view, root)
        _build_dev(root, make_nodes=in_initial_user_namespace())
        for path in (TASK_DIR, TMP_DIR, "/proc"):
            os.mkdir(root + path)
        os.mkdir(root + RUNS_DIR)
        runs_flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
        linux.mount("tmpfs", root + RUNS_DIR, "tmpfs", runs_flags, RUNS_TMPFS)
        if not in_initial_user_namespace():
            os.mkdir(root + HOST_PROC)
            linux.mount("/proc", root + HOST_PROC, None, linux.MS_BIND | linux.MS_REC)
        os.chdir(root)
        # Stack the host's root under the new one, then detach it: afterwards no
        # path, not even /proc/self/root or "..", leads outside.
        linux.pivot_root(".", ".")
        linux.umount2(".", linux.MNT_DETACH)
        os.chdir("/")
        linux.mount(None, "/", None, _remount_flags(linux.MS_NOSUID))
    except OSError as exc:
        raise JailError(f"preparing the sandbox's filesystem failed: {exc}") from exc


def become_namespace_root() -> None:
    """Make the calling zygote, started by an unprivileged user, root of a new user
    namespace that maps only that user (uid and gid 0 inside), with a network
    namespace of its own; its children inherit both.

    Root there is what lets the zygote build its mount namespace and every run's
    namespaces, all owned by this user namespace: a run's processes, once they
    have given up the capabilities, are the invoking user on the host, confined by
    those namespaces. The zygote cannot return to the host's network namespace,
    which belongs to the host's user namespace, so it leaves it now, for one that
    has nothing in it: the slots' namespaces are made from, and left back to, it.
    """
    uid, gid = os.geteuid(), os.getegid()
    try:
        linux.unshare(linux.CLONE_NEWUSER)
        _write_proc("uid_map", f"0 {uid} 1\n")
        _write_proc("setgroups", "deny\n")  # required before an unprivileged gid_map
        _write_proc("gid_map", f"0 {gid} 1\n")
        linux.unshare(linux.CLONE_NEWNET)
    except OSError as exc:
        raise JailError(f"entering a user namespace failed: {exc}") from exc
    in_initial_user_namespace.cache_clear()


def become_pid_namespace_init() -> None:
    """Fork the calling zygote into PID 1 of a new PID namespace; returns in the child.

    Unprivileged only. Each run is forked into a new PID namespace by ``unshare``
    and the zygote then ``setns``es back to its own, which needs capabilities over
    that namespace: over the host's the zygote has none, over one its own user
    namespace owns it has them all. The parent, which the worker knows as the
    zygote, holds nothing but waits and exits with the child's status; the child
    dies with it (parent-death signal), and with the child, as init of the
    namespace, every run.
    """
    lifeline_read, lifeline_write = os.pipe()
    try:
        linux.unshare(linux.CLONE_NEWPID)
        pid = os.fork()
    except OSError as exc:
        raise JailError(f"entering a PID namespace failed: {exc}") from exc
    if pid == 0:
        os.close(lifeline_write)
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        # The parent may have died before the signal was armed: its pipe then reads
        # as closed.
        readable, _, _ = select.select([lifeline_read], [], [], 0)
        os.close(lifeline_read)
        if readable:
            os._exit(1)
        return
    os.closerange(0, lifeline_write)
    os.closerange(lifeline_write + 1, 2**31 - 1)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


@functools.cache
def in_initial_user_namespace() -> bool:
    """Whether this process is in the host's user namespace (the zygote started as
    root) rather than one of the zygote's own; known once, before any run forks."""
    with open("/proc/self/uid_map") as file:
        return file.read().split() == ["0", "0", "4294967295"]


def set_environment() -> None:
    """Give the calling zygote exactly the runs' environment, which its children inherit.

    Done once in the zygote rather than in every run: the zygote never starts a
    program, and it was started with an environment of its own making (nothing of
    the worker's), so it loses nothing by having the runs' one.
    """
    os.environ.clear()
    os.environ.update(ENVIRONMENT)


def isolate(*, tmp_bytes: int) -> None:
    """The part of a run's jail that does not depend on the run; still host root.

    The zygote's spare children do this before any run is assigned to them.
    """
    try:
        # The network namespace comes later, in join_network: reused per slot.
        linux.unshare(
            linux.CLONE_NEWNS | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS | linux.CLONE_NEWCGROUP
        )
        linux.sethostname(HOSTNAME)
        tmp_options = f"size={tmp_bytes},nr_inodes=4096,mode=1777"
        linux.mount("tmpfs", TMP_DIR, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, tmp_options)
        proc_flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
        try:
            # A procfs of the run's PID namespace; subset=pid hides /proc/sys,
            # /proc/kcore and the other system-wide files.
            linux.mount("proc", "/proc", "proc", proc_flags, "hidepid=2,subset=pid")
        except OSError:
            linux.mount("proc", "/proc", "proc", proc_flags, "hidepid=2")
    except OSError as exc:
        raise JailError(f"setting up the sandbox failed: {exc}") from exc


def new_network_namespace() -> int:
    """A descriptor of a new network namespace, for a slot's runs; the caller stays in
    its own. Needs a procfs at /proc (the zygote calls it before ``prepare_root``)."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.unshare(linux.CLONE_NEWNET)
        try:
            return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            linux.setns(own, linux.CLONE_NEWNET)
    finally:
        os.close(own)


def join_network(namespace: int | None) -> None:
    """Enter ``namespace`` (the run's slot's, then closed), or a new one if it is None
    or not pristine; after ``isolate``, still host root.

    A network namespace of the host's user namespace offers a run nothing it could
    change but Unix sockets (other families are refused by seccomp; the loopback
    device, routes, sysctls and firewall need capabilities over the namespace that
    no run ever has). The zygote passes a slot's namespace only when no earlier run
    of the slot is alive, and all of that run's processes were gone when its PID 1
    was reaped; a socket that outlives them (one kept alive only by being in flight
    in another's queue, until the kernel's collector frees it) would still be listed
    here, so any socket at all means a fresh namespace instead.
    """
    try:
        if namespace is not None:
            try:
                linux.setns(namespace, linux.CLONE_NEWNET)
            finally:
                os.close(namespace)
            if _network_is_pristine():
                return
        linux.unshare(linux.CLONE_NEWNET)
    except OSError as exc:
        raise JailError(f"setting up the sandbox's network failed: {exc}") from exc


def _network_is_pristine() -> bool:
    # The header line only: not a single Unix socket, bound, named or not.
    with open("/proc/self/net/unix", "rb") as file:
        return file.read().count(b"\n") == 1


def enter(
    *,
    run: str,
    view: str,
    uid: int,
    gid: int,
    limits: Limits,
    last_cap: int,
    seccomp_filter: bytes,
    lifeline: int,
) -> None:
    """Finish jailing the calling process, after ``isolate``, for one run.

    ``run`` names the run's staging directory under ``/runs`` and ``view`` the
    directory in it that becomes ``/task`` (the judge's or the student's files);
    ``lifeline`` is the read end of a pipe whose writer is the zygote (closed here).
    """
    try:
        # /task already exists: prepare_root made it.
        _bind(
            os.path.join(RUNS_DIR, run, view),
            TASK_DIR,
            flags=linux.MS_NODEV | linux.MS_NOEXEC,
            make_target=False,
        )
        # Other runs' staging directories disappear from this namespace (and,
        # unprivileged, the host's procfs, mounted under it) under an empty read-only
        # tmpfs: unmounting /runs instead made the kernel wait for an RCU grace
        # period, ~2 ms of every run's start. Nothing in the run can remove it: it
        # has no capability over this mount namespace, and seccomp denies umount.
        linux.mount("tmpfs", RUNS_DIR, "tmpfs", _HIDING_FLAGS, "size=4k,nr_inodes=1,mode=0555")
        os.chdir(TASK_DIR)
        _drop_identity(uid, gid, limits)
        linux.drop_all_capabilities(last_cap)
        _die_with_the_zygote(lifeline)
        seccomp.install(seccomp_filter)
    except OSError as exc:
        raise JailError(f"setting up the sandbox failed: {exc}") from exc


def _build_etc(view: FilesystemView, root: str) -> None:
    os.mkdir(root + "/etc")
    generated = {
        "passwd": f"root:x:0:0::/:/usr/sbin/nologin\n"
        f"student:x:{INSIDE_ID}:{INSIDE_ID}::{TMP_DIR}:/usr/sbin/nologin\n",
        "group": f"root:x:0:\nstudent:x:{INSIDE_ID}:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "hostname": HOSTNAME + "\n",
    }
    for name, text in generated.items():
        with open(f"{root}/etc/{name}", "w") as file:
            file.write(text)
    # Copies, not bind mounts: every mount here is copied again for each run. Without
    # shutil, which would bring bz2 and lzma into the zygote: libraries whose page
    # tables every fork copies and every exit unmaps.
    for path in view.copied_files:
        with open(path, "rb") as source, open(root + path, "wb") as copy:
            copy.write(source.read())
    for path, target in view.etc_links:
        os.symlink(target, root + path)


def _build_dev(root: str, *, make_nodes: bool) -> None:
    os.mkdir(root + "/dev")
    for name, minor in DEVICES.items():
        path = f"{root}/dev/{name}"
        if make_nodes:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
            os.chmod(path, 0o666)  # noqa: S103 (what these devices are for)
        else:
            # A user namespace may not create device nodes, and a filesystem it
            # mounted never honours them: bind the host's (one more mount a run).
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o666))
            linux.mount(f"/dev/{name}", path, None, linux.MS_BIND)
    for name, target in DEV_LINKS.items():
        os.symlink(target, f"{root}/dev/{name}")


def _bind(source: str, target: str, *, flags: int, make_target: bool = True) -> None:
    if make_target:
        os.makedirs(target, exist_ok=True)
    linux.mount(source, target, None, linux.MS_BIND | linux.MS_REC)
    # A bind mount takes its own flags only when remounted.
    linux.mount(None, target, None, _remount_flags(flags | linux.MS_NOSUID))


def _remount_flags(flags: int) -> int:
    return linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY | flags


def _drop_identity(uid: int, gid: int, limits: Limits) -> None:
    """Become the run's identity: a user namespace of its own, with the rlimits.

    As host root, the run first becomes its slot's uid, whose only processes are
    this run's, and sets the rlimits before its user namespace, which inherits
    RLIMIT_NPROC as its ceiling. Unprivileged, ``uid`` and ``gid`` are the invoking
    user, which the zygote's user namespace maps as its root (already the run's
    identity), and the rlimits come after the run's own user namespace: since
    Linux 5.14 RLIMIT_NPROC counts the processes of a uid in one user namespace
    (ucounts), so a limit set there counts this run's processes only, not the
    user's others (a limit set before would also count the zygote and every other
    run, and the new namespace would inherit it as a ceiling for all of them).
    """
    if in_initial_user_namespace():
        _become(uid, gid)
        _set_limits(limits)
        _enter_user_namespace(uid, gid)
    else:
        _enter_user_namespace(0, 0)
        _set_limits(limits)


def _become(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def _set_limits(limits: Limits) -> None:
    """Rlimits, soft = hard (see ``_drop_identity`` for when)."""
    values = {
        resource.RLIMIT_CPU: limits.cpu_s,
        resource.RLIMIT_AS: limits.address_space_bytes,
        resource.RLIMIT_FSIZE: limits.file_size_bytes,
        resource.RLIMIT_NOFILE: limits.open_files,
        # Counts threads too, per uid and user namespace: the slot's uid runs nothing
        # else on the host, and unprivileged the run's namespace holds only the run.
        resource.RLIMIT_NPROC: limits.processes,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_MEMLOCK: 0,
        resource.RLIMIT_MSGQUEUE: 0,
        # Queued signals are counted per uid up through every user namespace, like
        # processes: unprivileged, without this limit a run could queue the invoking
        # user's whole allowance (ulimit -i) and make the user's own sigqueue and
        # timer_create fail on the host while it runs.
        resource.RLIMIT_SIGPENDING: PENDING_SIGNALS,
    }
    for which, value in values.items():
        resource.setrlimit(which, (value, value))
    # Writing past RLIMIT_FSIZE then fails with an OSError the student can read,
    # instead of killing the process with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _enter_user_namespace(uid: int, gid: int) -> None:
    """Map only ``uid``/``gid`` (of the current user namespace) to 1000 inside a new one."""
    # setresuid made the process non-dumpable, which makes /proc/self/*_map owned
    # by host root: make it dumpable again so it may write its own maps.
    linux.prctl(linux.PR_SET_DUMPABLE, 1)
    linux.unshare(linux.CLONE_NEWUSER)
    _write_proc("uid_map", f"{INSIDE_ID} {uid} 1\n")
    _write_proc("setgroups", "deny\n")  # required before an unprivileged gid_map
    _write_proc("gid_map", f"{INSIDE_ID} {gid} 1\n")
    linux.prctl(linux.PR_SET_DUMPABLE, 0)


def _die_with_the_zygote(lifeline: int) -> None:
    """SIGKILL this process (and so its PID namespace) when the zygote dies.

    Set last: every credential change clears the parent-death signal. The zygote may
    have died before it was set; its pipe then reads as closed.
    """
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    readable, _, _ = select.select([lifeline], [], [], 0)
    os.close(lifeline)
    if readable:
        raise OSError(0, "the zygote exited")


def _write_proc(name: str, text: str) -> None:
    fd = os.open(f"/proc/self/{name}", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
