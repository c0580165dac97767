"""Hostile submissions and what the secure sandbox must make of them.

Each attack is the student module of the two-fer assignment. Most are a correct
solution plus hostile code at import: the run must still grade (usually
``passed``) while the attack achieves nothing. Probes print ``DENIED label`` or
``ALLOWED label value`` through ``attempt``, so a check can say which step failed.
Placeholders filled in before the run: ``SECRET``, ``WORKER_PID``, ``CANARY_DIR``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from gradeflow.grading.sandbox import RunResult
from tests.grading.sandbox.time_scale import scaled

SOLUTION = """
def two_fer(name="you"):
    return f"One for {name}, one for me."
"""

PRELUDE = """
import os, sys

def attempt(label, action):
    try:
        value = action()
    except BaseException as exc:
        print("DENIED", label, type(exc).__name__, exc, flush=True)
    else:
        print("ALLOWED", label, repr(value)[:300], flush=True)
"""

Check = Callable[[RunResult], None]


@dataclass(frozen=True)
class Attack:
    name: str
    code: str
    outcomes: frozenset[str]
    check: Check | None = None
    time_limit_s: float = 2.0
    memory_mb: int = 128
    message: str | None = None  # a regex the run's message must match
    # The outcomes instead where the sandbox has cgroup v2 limits, if they differ.
    cgroup_outcomes: frozenset[str] | None = None

    def __str__(self) -> str:
        return self.name


def denied(*labels: str) -> Check:
    """Every ``attempt`` with these labels was denied."""

    def check(result: RunResult) -> None:
        lines = result.stdout.splitlines()
        for label in labels:
            found = [line for line in lines if line.split(" ")[1:2] == [label]]
            assert found, f"{label}: no report in {result.stdout[:2000]!r}"
            assert all(line.startswith("DENIED ") for line in found), found

    return check


def printed(pattern: str) -> Check:
    def check(result: RunResult) -> None:
        assert re.search(pattern, result.stdout, re.MULTILINE), result.stdout[:2000]

    return check


def threads_bounded(result: RunResult) -> None:
    """At most 15 threads started; on a machine so loaded that the spinning threads
    starve the starting one past the time limit, the count is never printed, and the
    run must then have been stopped by that limit."""
    found = re.search(r"^threads started: (\d+)$", result.stdout, re.MULTILINE)
    if found is None:
        assert result.outcome == "timeout", (result.outcome, result.stdout[:2000])
    else:
        assert int(found.group(1)) <= 15, found.group(0)


def if_passed(inner: Check, otherwise: str) -> Check:
    """``inner`` for a run that passed; for any other, its message must match
    ``otherwise``."""

    def check(result: RunResult) -> None:
        if result.outcome == "passed":
            inner(result)
        else:
            assert re.search(otherwise, result.message), result.message

    return check


def both(*checks: Check) -> Check:
    def check(result: RunResult) -> None:
        for one in checks:
            one(result)

    return check


def attack(
    name: str,
    hostile: str,
    outcomes: str | tuple[str, ...] = "passed",
    check: Check | None = None,
    *,
    solution: bool = True,
    **options: object,
) -> Attack:
    code = PRELUDE + (SOLUTION if solution else "") + hostile
    wanted = frozenset((outcomes,) if isinstance(outcomes, str) else outcomes)
    return Attack(name, code, wanted, check, **options)  # type: ignore[arg-type]


def _no_leak(result: RunResult) -> None:
    assert "ALLOWED" not in result.stdout, result.stdout[:2000]


ATTACKS: list[Attack] = [
    # -- Resources ------------------------------------------------------------------
    attack(
        "fork_bomb",
        """
import time
for _ in range(200):
    try:
        if os.fork() == 0:
            while True:
                try:
                    os.fork()
                except OSError:
                    time.sleep(0.001)
    except OSError:
        break
""",
        ("passed", "timeout"),
    ),
    attack(
        "fork_bomb_counts_its_processes",
        """
children = 0
for _ in range(1000):
    try:
        pid = os.fork()
    except OSError as exc:
        print("fork refused after", children, "children:", type(exc).__name__, flush=True)
        break
    if pid == 0:
        import time
        time.sleep(30)
        os._exit(0)
    children += 1
""",
        check=printed(r"^fork refused after (1[0-5]|[0-9]) children: BlockingIOError"),
    ),
    attack(
        "memory_bomb",
        "\nhoard = []\nwhile True:\n    hoard.append(bytearray(2**20))\n",
        "memory_limit",
        solution=False,
    ),
    attack(
        "memory_bomb_in_a_test",
        """
def two_fer(name="you"):
    hoard = []
    while True:
        hoard.append(bytearray(2**20))
""",
        "memory_limit",
        solution=False,
        message=r"in the test “no name”",
    ),
    attack(
        "memory_bomb_in_many_children",
        """
for _ in range(40):
    try:
        if os.fork() == 0:
            hoard = []
            try:
                while True:
                    hoard.append(bytearray(2**20))
            except MemoryError:
                os._exit(3)
    except OSError:
        break
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
print("all children hit their memory limit", flush=True)
""",
        # With rlimits only, each child meets its own RLIMIT_AS; with a cgroup, their
        # sum meets the student process's memory.max first and the kernel kills them
        # all, during the import: a memory limit, named as such. On a loaded machine
        # the children filling their memory can outlast the time limit: stopped too.
        ("passed", "timeout"),
        cgroup_outcomes=frozenset({"memory_limit", "timeout"}),
        check=if_passed(
            printed("^all children hit their memory limit"),
            r"^(Your code used more than 64 MB of memory: 0 of \d+ tests had finished"
            r"|Stopped after \d+\.\d s)",
        ),
        memory_mb=64,
        time_limit_s=3.0,
    ),
    attack(
        "infinite_loop",
        "\nwhile True:\n    pass\n",
        "timeout",
        message=rf"^Stopped after {scaled(2.0):.1f} s \(the time limit\): 0 of \d+ tests had finished",
    ),
    attack(
        "sleep_past_the_wall_clock",
        "\nimport time\ntime.sleep(3600)\n",
        "timeout",
    ),
    attack(
        "busy_threads",
        """
import threading

def spin():
    while True:
        pass

started = 0
for _ in range(200):
    try:
        threading.Thread(target=spin, daemon=True).start()
        started += 1
    except RuntimeError:
        break
print("threads started:", started, flush=True)
""",
        # Their stacks take most of the address space the limit allows.
        ("passed", "timeout", "memory_limit"),
        check=threads_bounded,
    ),
    attack(
        "disk_fill_in_tmp",
        """
def fill():
    chunk = b"x" * 2**20
    for n in range(1000):
        with open(f"/tmp/fill-{n}", "wb") as file:
            for _ in range(8):
                file.write(chunk)
attempt("fill", fill)
""",
        check=both(denied("fill"), printed("No space left on device")),
    ),
    attack(
        "huge_file_in_tmp",
        """
def huge():
    with open("/tmp/huge", "wb") as file:
        for _ in range(200):
            file.write(b"x" * 2**20)
attempt("huge", huge)
""",
        check=both(denied("huge"), printed("File too large")),
    ),
    attack(
        "inode_exhaustion_in_tmp",
        """
def many():
    for n in range(100_000):
        open(f"/tmp/f{n}", "w").close()
attempt("many", many)
""",
        check=denied("many"),
    ),
    attack(
        "gigabytes_of_stdout",
        "\nimport sys\nblock = 'x' * 65536\nwhile True:\n    sys.stdout.write(block)\n",
        "timeout",
    ),
    attack(
        "gigabytes_of_stderr",
        "\nblock = b'e' * 65536\nwhile True:\n    os.write(2, block)\n",
        "timeout",
    ),
    attack(
        "zombie_farm",
        """
made = 0
for _ in range(1000):
    try:
        if os.fork() == 0:
            os._exit(0)
        made += 1
    except OSError:
        break
print("zombies:", made, flush=True)
""",
    ),
    # -- Reading the host -----------------------------------------------------------
    attack(
        "read_etc_shadow",
        """
attempt("shadow", lambda: open("/etc/shadow").read())
attempt("gshadow", lambda: open("/etc/gshadow").read())
""",
        check=both(denied("shadow", "gshadow")),
    ),
    attack(
        "read_proc_1_environ",
        """
attempt("environ1", lambda: open("/proc/1/environ", "rb").read())
attempt("cmdline1", lambda: open("/proc/1/cmdline", "rb").read())
""",
        check=denied("environ1"),
    ),
    attack(
        "read_worker_environment",
        """
print(sorted(os.environ.items()), flush=True)
attempt("self_environ", lambda: open("/proc/self/environ", "rb").read())
attempt("worker_environ", lambda: open("/proc/WORKER_PID/environ", "rb").read())
""",
        check=both(denied("worker_environ"), printed(r"\('HOME', '/tmp'\)")),
    ),
    attack(
        "read_the_database_and_settings",
        """
for path in ["CANARY_DIR/gradeflow.sqlite3", "CANARY_DIR/settings.env",
             "/work/main/var/gradeflow.sqlite3", "/var/lib/postgresql",
             "/root/.bash_history", "/work"]:
    attempt("read " + path, lambda: open(path, "rb").read(100) if "." in path else os.listdir(path))
""",
        check=_no_leak,
    ),
    attack(
        "read_other_submissions",
        """
def search():
    found = []
    # Not /task: this run's own files, which hold the secret as this code does.
    for top in ["/", "/runs", "/run", "/tmp", "/etc", "/root", "/var", "/home"]:
        if not os.path.isdir(top):
            continue
        for directory, dirs, files in os.walk(top):
            skip = ("/proc", "/usr", "/root/.pyenv", "/task")
            dirs[:] = [d for d in dirs if os.path.join(directory, d) not in skip]
            for name in files:
                # Files only: a device or the run's own pipes (/dev/stdout) hold
                # nothing of anyone else's, and reading them may block.
                if not os.path.isfile(os.path.join(directory, name)):
                    continue
                try:
                    with open(os.path.join(directory, name), "rb") as file:
                        if b"SECRET" in file.read(2**20):
                            found.append(os.path.join(directory, name))
                except OSError:
                    pass
    return found
print("found:", search(), flush=True)
print("runs:", os.listdir("/runs"), flush=True)
print("task:", sorted(os.listdir("/task")), flush=True)
""",
        check=both(
            printed(r"^found: \[\]$"),
            printed(r"^runs: \[\]$"),
            # The student's process sees its own module, never the tests.
            printed(r"^task: \['two_fer.py'\]$"),
        ),
    ),
    attack(
        "list_the_filesystem",
        """
print("root:", sorted(os.listdir("/")), flush=True)
print("home:", sorted(os.listdir("/root")) if os.path.isdir("/root") else [], flush=True)
print("tmp:", sorted(os.listdir("/tmp")), flush=True)
print("dev:", sorted(os.listdir("/dev")), flush=True)
""",
        check=both(
            printed(
                # /root only if the interpreter is installed there (pyenv's is).
                r"^root: \['bin', 'dev', 'etc', 'lib', 'lib64', 'proc', ('root', )?'runs', "
                r"'sbin', 'task', 'tmp', 'usr'\]$"
            ),
            printed(r"^home: \['.pyenv'\]$|^home: \[\]$"),
            printed(r"^tmp: \[\]$"),
            printed(
                r"^dev: \['fd', 'full', 'null', 'random', 'stderr', 'stdin', 'stdout', 'urandom', 'zero'\]$"
            ),
        ),
    ),
    attack(
        "list_host_processes",
        """
pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
print("pids:", pids, flush=True)
for pid in pids:
    try:
        print(pid, open(f"/proc/{pid}/cmdline", "rb").read()[:80], flush=True)
    except OSError:
        pass
""",
        check=printed(r"^pids: \[1\]$"),
    ),
    # -- Network --------------------------------------------------------------------
    *[
        attack(
            f"connect_to_loopback_port_{port}",
            f"""
import socket
def connect():
    with socket.create_connection(("127.0.0.1", {port}), timeout=1):
        return "connected"
attempt("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("connect", connect)
""",
            check=denied("inet", "connect"),
        )
        for port in (5432, 6379, 5672)
    ],
    attack(
        "other_socket_families",
        """
import socket
for family in ("AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_VSOCK", "AF_BLUETOOTH", "AF_ALG"):
    attempt(family, lambda: socket.socket(getattr(socket, family), socket.SOCK_DGRAM))
attempt("socketpair_inet", lambda: socket.socketpair(socket.AF_INET))
""",
        check=denied("AF_INET6", "AF_NETLINK", "AF_PACKET", "socketpair_inet"),
    ),
    attack(
        "unix_sockets_of_the_host",
        """
import socket
for path in ["/run/postgresql/.s.PGSQL.5432", "/var/run/docker.sock", "\\0/tmp/.X11-unix/X0"]:
    def connect():
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(path)
    attempt("unix " + path.strip(chr(0)), connect)
""",
        check=_no_leak,
    ),
    attack(
        "name_lookups",
        """
import socket
attempt("lookup", lambda: socket.getaddrinfo("gradeflow-test.invalid", 80))
attempt("reverse", lambda: socket.gethostbyaddr("127.0.0.1"))
print("hostname:", socket.gethostname(), flush=True)
""",
        check=both(denied("lookup"), printed("^hostname: sandbox$")),
    ),
    # -- Processes and signals ------------------------------------------------------
    attack(
        "ptrace",
        """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def ptrace(request, pid):
    if libc.ptrace(request, pid, None, None) != 0:
        raise OSError(ctypes.get_errno(), "ptrace")
attempt("traceme", lambda: ptrace(0, 0))
attempt("attach_init", lambda: ptrace(16, 1))
attempt("attach_worker", lambda: ptrace(16, WORKER_PID))
""",
        check=denied("traceme", "attach_init", "attach_worker"),
    ),
    attack(
        "kill_the_worker",
        """
import signal
attempt("kill_worker", lambda: os.kill(WORKER_PID, signal.SIGKILL))
""",
        check=denied("kill_worker"),
    ),
    attack(
        "kill_every_process",
        """
import signal
for pid in range(2, 40000):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
attempt("kill_all", lambda: os.kill(-1, signal.SIGKILL))
""",
    ),
    attack(
        "kill_the_parent",
        """
import signal
print("parent pid:", os.getppid(), flush=True)
os.kill(os.getppid(), signal.SIGKILL)
""",
    ),
    attack(
        "kill_the_harness_from_a_child",
        """
import signal, time
if os.fork() == 0:
    os.kill(1, signal.SIGKILL)
    os._exit(0)
os.wait()
""",
    ),
    attack(
        "double_fork_daemon",
        """
import time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            with open("/tmp/daemon", "a") as file:
                file.write("still here\\n")
            time.sleep(0.05)
    os._exit(0)
os.wait()
""",
    ),
    attack(
        "inherited_descriptors",
        """
for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
    try:
        print("fd", fd, os.readlink(f"/proc/self/fd/{fd}"), flush=True)
    except OSError:
        pass
""",
        check=printed(r"^fd 0 /dev/null$"),
    ),
    # -- Crashes and early exits ----------------------------------------------------
    attack("ctypes_segfault", "\nimport ctypes\nctypes.string_at(0)\n", "crashed"),
    attack(
        "ctypes_segfault_in_a_test",
        """
import ctypes
def two_fer(name="you"):
    ctypes.string_at(0)
""",
        "crashed",
        solution=False,
        message=r"while running TwoFerTest\.test_no_name \(killed by SIGSEGV\)",
    ),
    attack(
        "recursion_crash",
        """
sys.setrecursionlimit(10**8)
def deeper(n):
    return deeper(n + 1) + 1
deeper(0)
""",
        # CPython either overflows the C stack (SIGSEGV) or notices first, or on a
        # slow or loaded machine is still recursing when the time is up.
        ("crashed", "import_error", "timeout"),
    ),
    attack("sys_exit_before_tests", "\nsys.exit(0)\n", "import_error"),
    attack("os_exit_before_tests", "\nos._exit(0)\n", "crashed"),
    attack(
        "os_exit_inside_a_test",
        """
def two_fer(name="you"):
    os._exit(0)
""",
        "crashed",
        solution=False,
    ),
    attack(
        "abort",
        "\nos.abort()\n",
        "crashed",
    ),
    # -- Forging results ------------------------------------------------------------
    attack(
        "print_a_fake_result",
        """
import json
def two_fer(name="you"):
    return "wrong"
for line in [{"event": "ready"}, {"event": "test", "test": "TwoFerTest.test_no_name", "outcome": "passed"},
             {"event": "done"}]:
    print(json.dumps({"nonce": "guess", **line}), flush=True)
""",
        "failed",
        solution=False,
    ),
    attack(
        "write_a_fake_result_to_every_descriptor",
        """
import json
def two_fer(name="you"):
    return "wrong"
fake = "".join(json.dumps({"nonce": "x", "event": e}) + "\\n" for e in ("ready", "done")).encode()
for fd in range(3, 1024):
    try:
        os.write(fd, fake)
    except OSError:
        pass
""",
        # Garbling its own socket to the judge crashes the student process, no more.
        ("failed", "crashed"),
        solution=False,
    ),
    attack(
        "monkeypatch_unittest_assertions",
        """
import unittest
def two_fer(name="you"):
    return "wrong"
unittest.TestCase.assertEqual = lambda self, *args, **kwargs: None
""",
        # The student process's own unittest, which decides nothing.
        "failed",
        solution=False,
    ),
    attack(
        "monkeypatch_test_methods_during_a_test",
        """
def two_fer(name="you"):
    tests = sys.modules.get("tests")
    if tests is not None:
        for value in vars(tests).values():
            if isinstance(value, type):
                for attr in list(vars(value)):
                    if attr.startswith("test"):
                        setattr(value, attr, lambda self: None)
    return "wrong"
""",
        "failed",
        solution=False,
    ),
    attack(
        "replace_the_unittest_module",
        """
import types
fake = types.ModuleType("unittest")
sys.modules["unittest"] = fake
""",
        # In the student process, which runs no tests: the correct solution passes.
        "passed",
    ),
    attack(
        "rewrite_tests_on_disk",
        """
attempt("rewrite", lambda: open("tests.py", "w").write("import unittest\\n"))
attempt("shadow_package", lambda: os.makedirs("two_fer_helpers/__pycache__"))
""",
        check=denied("rewrite", "shadow_package"),
    ),
    # -- Escaping the filesystem view -----------------------------------------------
    attack(
        "write_outside_tmp",
        """
for path in ["/task/planted.py", "/etc/planted", "/usr/planted", "/planted", "/root/planted",
             "/dev/planted", "/proc/planted", "/root/.pyenv/planted"]:
    attempt("write " + path, lambda: open(path, "w").write("x"))
""",
        check=_no_leak,
    ),
    attack(
        "symlink_escapes",
        """
os.symlink("/", "/tmp/root-link")
os.symlink("/proc/1/root", "/tmp/init-root")
attempt("via_link", lambda: open("/tmp/root-link/etc/shadow").read())
attempt("via_init_root", lambda: open("/tmp/init-root/etc/shadow").read())
attempt("proc_self_root", lambda: open("/proc/self/root/etc/shadow").read())
attempt("proc_self_root_dotdot", lambda: os.listdir("/proc/self/root/../../../work"))
attempt("hardlink", lambda: os.link("/etc/passwd", "/tmp/passwd"))
print("same root:", os.listdir("/proc/1/root") == os.listdir("/"), flush=True)
""",
        check=both(
            denied("via_link", "via_init_root", "proc_self_root", "proc_self_root_dotdot"),
            printed("^same root: True$"),
        ),
    ),
    # Counted per uid across user namespaces: unprivileged, the run is the invoking
    # user, so a run that could take them would take them from the user's programs.
    attack(
        "inotify_instances_of_the_user",
        """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def inotify(name):
    fd = getattr(libc, name)(*(() if name == "inotify_init" else (0,)))
    if fd < 0:
        raise OSError(ctypes.get_errno(), name)
    return fd
attempt("inotify_init", lambda: inotify("inotify_init"))
attempt("inotify_init1", lambda: inotify("inotify_init1"))
""",
        check=denied("inotify_init", "inotify_init1"),
    ),
    attack(
        "queued_signals_of_the_user",
        """
import ctypes, signal
libc = ctypes.CDLL(None, use_errno=True)
class sigval(ctypes.Union):
    _fields_ = [("sival_int", ctypes.c_int), ("sival_ptr", ctypes.c_void_p)]
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])
queued = 0
for _ in range(100_000):
    if libc.sigqueue(os.getpid(), int(signal.SIGRTMIN), sigval(0)) != 0:
        break
    queued += 1
print("signals queued:", queued, flush=True)
""",
        check=printed(r"^signals queued: ([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$"),
    ),
    attack(
        "dev_shm",
        """
attempt("shm", lambda: open("/dev/shm/planted", "w").write("x"))
attempt("mqueue", lambda: os.listdir("/dev/mqueue"))
""",
        check=denied("shm", "mqueue"),
    ),
    attack(
        "setuid_and_capability_tricks",
        """
import ctypes, shutil
attempt("setuid0", lambda: os.setuid(0))
attempt("setgid0", lambda: os.setgid(0))
attempt("setgroups", lambda: os.setgroups([0]))
status = open("/proc/self/status").read()
for key in ("Uid", "CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp"):
    print([line for line in status.splitlines() if line.startswith(key + ":")][0], flush=True)
""",
        check=both(
            denied("setuid0", "setgid0", "setgroups"),
            printed(r"^Uid:\s+1000\s+1000\s+1000\s+1000$"),
            printed(r"^CapEff:\s+0+$"),
            printed(r"^CapBnd:\s+0+$"),
            printed(r"^NoNewPrivs:\s+1$"),
            printed(r"^Seccomp:\s+2$"),
        ),
    ),
    attack(
        "new_namespaces_and_mounts",
        """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    if getattr(libc, name)(*args) != 0:
        raise OSError(ctypes.get_errno(), name)
attempt("unshare_user", lambda: call("unshare", 0x10000000))
attempt("unshare_mount", lambda: call("unshare", 0x00020000))
attempt("mount_tmpfs", lambda: call("mount", b"tmpfs", b"/tmp", b"tmpfs", 0, None))
attempt("chroot", lambda: call("chroot", b"/tmp"))
attempt("setns", lambda: call("setns", os.open("/proc/self/ns/user", os.O_RDONLY), 0))
attempt("sethostname", lambda: call("sethostname", b"x", 1))
attempt("fork_into_new_ns", lambda: os.system("unshare -r -n true 2>/dev/null") or None)
""",
        check=denied(
            "unshare_user", "unshare_mount", "mount_tmpfs", "chroot", "setns", "sethostname"
        ),
    ),
    attack(
        "kernel_attack_surface",
        """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def syscall(name, number, *args):
    if libc.syscall(number, *args) < 0 and ctypes.get_errno() in (1, 38):
        raise OSError(ctypes.get_errno(), name)
for name, number in [("bpf", 321), ("keyctl", 250), ("add_key", 248), ("perf_event_open", 298),
                     ("io_uring_setup", 425), ("userfaultfd", 323), ("kexec_load", 246),
                     ("init_module", 175), ("open_by_handle_at", 304), ("personality", 135),
                     ("process_vm_readv", 310), ("pidfd_getfd", 438)]:
    attempt(name, lambda: syscall(name, number, 0, 0, 0, 0, 0))
""",
        check=denied(
            "bpf",
            "keyctl",
            "add_key",
            "perf_event_open",
            "io_uring_setup",
            "userfaultfd",
            "kexec_load",
            "init_module",
            "open_by_handle_at",
            "personality",
            "process_vm_readv",
            "pidfd_getfd",
        ),
    ),
]
