"""``gradeflow grade`` through the warm grader, run as a user runs it: the output is
the in-process command's, the server is reused, replaced when gone, and trusted only
when it runs as the caller in a directory only the caller may enter.

Runs as root and, through ``make test-unprivileged``, as nobody; the tests that act
as a second user need root and are skipped otherwise.
"""

from __future__ import annotations

import os
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gradeflow.grade_server import wire
from tests.factories import ADDER_HALF, ADDER_SOLUTION, ADDER_WRONG, write_assignment

OTHER_UID = 65534  # nobody
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="acts as a second user")


class Calls:
    """Runs ``gradeflow grade`` in ``home`` with an environment of its own."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("GRADEFLOW_") and k != "XDG_RUNTIME_DIR"
        }
        (home / "tmp").mkdir()
        self.env |= {"GRADEFLOW_DATA_DIR": str(home / "var"), "TMPDIR": str(home / "tmp")}

    @property
    def socket_dir(self) -> Path:
        return self.home / "tmp" / f"gradeflow-{os.geteuid()}"  # root's too

    def grade(
        self,
        *args: str,
        cwd: Path | None = None,
        timeout: float = 180,
        preexec_fn: Callable[[], object] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gradeflow", "grade", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=cwd or self.home,
            timeout=timeout,
            check=False,
            preexec_fn=preexec_fn,
        )

    def server_pids(self) -> list[int]:
        """Every server started for these calls, in order, from the servers' logs."""
        pids: list[int] = []
        for log in sorted(self.socket_dir.glob("grade-*.log")):
            pids += [
                int(p) for p in re.findall(r"grade_server\.ready\s+pid=(\d+)", log.read_text())
            ]
        return pids


def timeless(output: str) -> str:
    """``output`` without the run's duration, the one thing two runs may differ in."""
    return re.sub(r'"duration_ms": \d+', '"duration_ms": N', output)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (the server is our grandchild only through the CLI, but be sure).
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


@pytest.fixture
def calls(tmp_path: Path) -> Iterator[Calls]:
    calls = Calls(tmp_path)
    yield calls
    stop_servers(calls)


@pytest.fixture
def reachable_calls() -> Iterator[Calls]:
    """Calls whose directories the other user may pass through (pytest's are root's
    alone), so that only the warm grader's own checks keep that user out."""
    home = Path(tempfile.mkdtemp(prefix="gradeflow-warm-", dir="/tmp"))
    home.chmod(0o711)
    calls = Calls(home)
    try:
        yield calls
    finally:
        stop_servers(calls)
        shutil.rmtree(home, ignore_errors=True)


def stop_servers(calls: Calls) -> None:
    for pid in calls.server_pids():
        if alive(pid):
            os.kill(pid, signal.SIGTERM)


def test_a_warm_call_prints_and_exits_as_an_in_process_call(calls: Calls) -> None:
    assignment = write_assignment(
        calls.home, toml_extra='module = "adder"\nscoring = "proportional"\npoints = 10\n'
    )
    cases = {
        "solution.py": ADDER_SOLUTION,
        "half.py": ADDER_HALF,
        "wrong.py": ADDER_WRONG,
        "syntax.py": "def add(a, b)\n    return 1\n",
        "noisy.py": "print('hello from the student')\ndef add(a, b):\n    return a + b\n",
        "empty.py": "   \n",
        # The command line (click) drops terminal escapes when the output is no terminal.
        "colours.py": "print('\\x1b[31mred\\x1b[0m')\ndef add(a, b):\n    return a - b\n",
    }
    for name, code in cases.items():
        (calls.home / name).write_text(code)
    (calls.home / "binary.py").write_bytes(b"\xff\xfe\x00junk")
    (calls.home / "broken").mkdir()
    invocations = [
        ["adder", "--code", name, *flag] for name in cases for flag in ([], ["--json"])
    ] + [
        ["adder", "--code", "binary.py"],
        ["adder", "--code", "missing.py"],
        ["broken", "--code", "solution.py"],
        ["--json", "--code=solution.py", str(assignment)],
    ]
    for args in invocations:
        warm = calls.grade(*args)
        alone = calls.grade(*args, "--no-daemon")
        assert (warm.returncode, timeless(warm.stdout)) == (
            alone.returncode,
            timeless(alone.stdout),
        ), args
        if alone.returncode == 2:  # refused before any sandbox (and its log lines) started
            assert warm.stderr == alone.stderr, args
        else:
            assert warm.stderr == "", args
    assert "hello from the student" in calls.grade("adder", "--code", "noisy.py").stdout
    assert len(calls.server_pids()) == 1  # every warm call above went to one server


def test_relative_paths_are_the_callers(calls: Calls) -> None:
    write_assignment(calls.home / "course")
    (calls.home / "course" / "mine.py").write_text(ADDER_WRONG)
    done = calls.grade("adder", "--code", "mine.py", cwd=calls.home / "course")
    assert done.returncode == 1, done.stderr
    assert "✗ AddTest.test_adds_two_numbers" in done.stdout
    done = calls.grade("adder", "--code", "mine.py")  # from home: neither path is there
    assert done.returncode == 2
    assert done.stderr.startswith("adder is invalid:")


def test_a_dead_servers_socket_is_replaced(calls: Calls) -> None:
    assignment = write_assignment(calls.home)
    solution = str(assignment / "solution.py")
    assert calls.grade(str(assignment), "--code", solution).returncode == 0
    (first,) = calls.server_pids()
    os.kill(first, signal.SIGKILL)
    while alive(first):
        time.sleep(0.05)
    assert list(calls.socket_dir.glob("grade-*.sock"))  # left behind by the dead server
    done = calls.grade(str(assignment), "--code", solution)
    assert done.returncode == 0, done.stderr
    assert calls.server_pids()[0] == first
    assert len(calls.server_pids()) == 2


def test_the_server_exits_when_idle_and_removes_its_socket(calls: Calls) -> None:
    calls.env["GRADEFLOW_GRADE_DAEMON_IDLE_MINUTES"] = "0.01"
    assignment = write_assignment(calls.home)
    assert calls.grade(str(assignment), "--code", str(assignment / "solution.py")).returncode == 0
    (pid,) = calls.server_pids()
    deadline = time.monotonic() + 120  # generous: the machine may be loaded
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid)
    assert not list(calls.socket_dir.glob("grade-*.sock"))


def test_turned_off_no_server_starts(calls: Calls) -> None:
    calls.env["GRADEFLOW_GRADE_DAEMON"] = "false"
    assignment = write_assignment(calls.home)
    assert calls.grade(str(assignment), "--code", str(assignment / "solution.py")).returncode == 0
    assert not calls.socket_dir.exists()


def test_a_directory_others_may_enter_is_not_used(calls: Calls) -> None:
    calls.socket_dir.mkdir(parents=True, mode=0o755)
    calls.socket_dir.chmod(0o755)
    assignment = write_assignment(calls.home)
    done = calls.grade(str(assignment), "--code", str(assignment / "solution.py"))
    assert done.returncode == 0
    assert "not using the warm grader" in done.stderr
    assert list(calls.socket_dir.iterdir()) == []


@root_only
def test_a_directory_another_user_made_first_is_not_used(calls: Calls) -> None:
    calls.socket_dir.mkdir(parents=True, mode=0o700)
    os.chown(calls.socket_dir, OTHER_UID, OTHER_UID)
    assignment = write_assignment(calls.home)
    done = calls.grade(str(assignment), "--code", str(assignment / "solution.py"))
    assert done.returncode == 0
    assert f"owned by uid {OTHER_UID}" in done.stderr
    assert list(calls.socket_dir.iterdir()) == []


# Runs as the other user with Debian's interpreter and the standard library only.
_FORGER = """
import json, socket, struct, sys
listener = socket.socket(socket.AF_UNIX)
listener.bind(sys.argv[1])
listener.listen()
print("listening", flush=True)
while True:
    connection, _ = listener.accept()
    body = json.dumps({"exit": 0, "stdout": "FORGED PASS\\n", "stderr": ""}).encode()
    connection.sendall(struct.pack(">I", len(body)) + body)
    connection.close()
"""

_INTRUDER = """
import json, socket, struct, sys
connection = socket.socket(socket.AF_UNIX)
connection.connect(sys.argv[1])
body = json.dumps({"cwd": "/", "path": sys.argv[2], "code": sys.argv[3], "json": False}).encode()
try:
    connection.sendall(struct.pack(">I", len(body)) + body)
    answer = connection.recv(65536)
    print(repr(answer) if answer else "no answer")
except (ConnectionResetError, BrokenPipeError):
    print("no answer")
"""


def as_other_user(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["/usr/bin/python3", "-c", script, *args],
        user=OTHER_UID,
        group=OTHER_UID,
        extra_groups=[],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",
    )


@root_only
def test_a_server_of_another_user_is_never_trusted(reachable_calls: Calls) -> None:
    calls = reachable_calls
    assignment = write_assignment(calls.home)
    wrong = calls.home / "wrong.py"
    wrong.write_text(ADDER_WRONG)
    assert calls.grade(str(assignment), "--code", str(wrong)).returncode == 1
    (pid,) = calls.server_pids()
    os.kill(pid, signal.SIGTERM)
    while alive(pid):
        time.sleep(0.05)
    # Someone else's server where ours would listen (only root could arrange it).
    (sock,) = {calls.socket_dir / f"{p.stem}.sock" for p in calls.socket_dir.glob("*.log")}
    calls.socket_dir.chmod(0o777)
    forger = as_other_user(_FORGER, str(sock))
    try:
        assert forger.stdout is not None
        assert forger.stdout.readline() == "listening\n"
        calls.socket_dir.chmod(0o700)
        done = calls.grade(str(assignment), "--code", str(wrong))
        assert "FORGED" not in done.stdout
        assert done.returncode == 1  # graded in-process instead: the wrong code fails
        assert f"served by uid {OTHER_UID}" in done.stderr
    finally:
        forger.kill()
        forger.communicate()


@root_only
def test_another_user_cannot_use_the_server(reachable_calls: Calls) -> None:
    calls = reachable_calls
    assignment = write_assignment(calls.home)
    solution = str(assignment / "solution.py")
    assert calls.grade(str(assignment), "--code", solution).returncode == 0
    (sock,) = calls.socket_dir.glob("grade-*.sock")
    # The private directory is the first lock: the other user cannot reach the socket.
    intruder = as_other_user(_INTRUDER, str(sock), str(assignment), solution)
    _, err = intruder.communicate(timeout=60)
    assert "PermissionError" in err
    # Open the directory and the socket: the server's own check is the second lock.
    calls.socket_dir.chmod(0o711)
    sock.chmod(0o777)
    intruder = as_other_user(_INTRUDER, str(sock), str(assignment), solution)
    out, err = intruder.communicate(timeout=60)
    assert out.strip() == "no answer", err
    assert "grade_server.refused_peer" in next(calls.socket_dir.glob("grade-*.log")).read_text()


def test_a_server_whose_code_changed_on_disk_is_replaced(calls: Calls) -> None:
    # A copy of the tree of its own: touching the shared one would make every other
    # test's server (pytest -n) find its code changed too and exit mid-test.
    package = calls.home / "src" / "gradeflow"
    shutil.copytree(
        Path(wire.__file__).parents[1], package, ignore=shutil.ignore_patterns("__pycache__")
    )
    calls.env["PYTHONPATH"] = str(package.parent)
    loaded = package / "grade_server" / "wire.py"
    assignment = write_assignment(calls.home)
    solution = str(assignment / "solution.py")
    assert calls.grade(str(assignment), "--code", solution).returncode == 0
    (first,) = calls.server_pids()
    before = loaded.stat()
    try:  # an upgrade or an edit, as the server sees it: a newer file
        os.utime(loaded, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        done = calls.grade(str(assignment), "--code", solution)
    finally:
        os.utime(loaded, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # answered by a fresh server, not in-process
    assert len(calls.server_pids()) == 2
    deadline = time.monotonic() + 60
    while alive(first) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(first)


def test_calls_at_once_start_one_server(calls: Calls) -> None:
    assignment = write_assignment(calls.home)
    command = [sys.executable, "-m", "gradeflow", "grade", str(assignment), "--code"]
    running = [
        subprocess.Popen(
            [*command, str(assignment / "solution.py")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=calls.env,
            cwd=calls.home,
        )
        for _ in range(3)
    ]
    for call in running:
        out, err = call.communicate(timeout=180)
        assert call.returncode == 0, err
        assert "PASSED" in out
    assert len(calls.server_pids()) == 1  # the start lock let one of them start it


def test_a_server_that_cannot_start_leaves_the_call_as_it_was(calls: Calls) -> None:
    # Refused where this host has no cgroup v2 limits to give; graded where it has.
    calls.env["GRADEFLOW_SANDBOX_CGROUPS"] = "on"
    assignment = write_assignment(calls.home)
    args = (str(assignment), "--code", str(assignment / "solution.py"))
    warm, alone = calls.grade(*args), calls.grade(*args, "--no-daemon")
    assert (warm.returncode, warm.stdout) == (alone.returncode, alone.stdout)
    if alone.returncode == 2:
        assert alone.stderr.splitlines()[-1] in warm.stderr
        assert calls.server_pids() == []


def at_most_2_gib() -> None:
    """A limit under which reading a huge file whole fails at once (MemoryError)."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def test_code_too_large_or_not_a_file_is_refused_unread_both_ways(calls: Calls) -> None:
    assignment = write_assignment(calls.home)
    huge = calls.home / "huge.py"
    with huge.open("wb") as file:
        file.truncate(64 << 30)  # sparse: no disk, but no memory could hold it
    fifo = calls.home / "fifo.py"
    os.mkfifo(fifo)  # no writer: opening it to read would wait for one forever
    cases = {
        str(huge): f"{huge}: The code is {64 << 30} bytes; the limit is 65536 bytes.\n",
        "/dev/zero": "/dev/zero is not a regular file\n",
        str(fifo): f"{fifo} is not a regular file\n",
    }
    for code, refusal in cases.items():
        for flags in ([], ["--no-daemon"]):
            done = calls.grade(
                str(assignment), "--code", code, *flags, timeout=90, preexec_fn=at_most_2_gib
            )
            assert (done.returncode, done.stdout, done.stderr) == (2, "", refusal), flags


def test_the_servers_directory_does_not_follow_the_working_directory(calls: Calls) -> None:
    del calls.env["GRADEFLOW_DATA_DIR"]  # the default, relative "var"
    assignment = write_assignment(calls.home)
    for name in ("course-a", "course-b"):
        (calls.home / name).mkdir()
        done = calls.grade(
            str(assignment), "--code", str(assignment / "solution.py"), cwd=calls.home / name
        )
        assert done.returncode == 0, done.stderr
        assert list((calls.home / name).iterdir()) == []
    assert len(list(calls.socket_dir.glob("grade-*.sock"))) == 1  # one for both directories
    assert oct(calls.socket_dir.stat().st_mode & 0o777) == oct(0o700)


def test_a_call_from_a_removed_directory_grades_without_a_traceback(calls: Calls) -> None:
    del calls.env["GRADEFLOW_DATA_DIR"]  # the default, relative "var"
    assignment = write_assignment(calls.home)
    removed = calls.home / "removed"
    removed.mkdir()
    done = subprocess.run(
        [
            *("sh", "-c", 'cd "$1" && rmdir "$1" && shift && exec "$@"', "sh", str(removed)),
            *(sys.executable, "-m", "gradeflow", "grade", str(assignment)),
            *("--code", str(assignment / "solution.py")),
        ],
        capture_output=True,
        text=True,
        env=calls.env,
        timeout=180,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert "PASSED" in done.stdout
    assert not removed.exists()


# Runs as this user: a warm grader that takes a call and never answers it.
_SILENT_SERVER = """
import socket, sys, time
listener = socket.socket(socket.AF_UNIX)
listener.bind(sys.argv[1])
listener.listen()
print("listening", flush=True)
connection, _ = listener.accept()
connection.recv(65536)
print("called", flush=True)
time.sleep(600)
"""

_SOCKET_NAME = (
    "from gradeflow.grade_server import client, location; "
    "print(location.socket_name(location.server_key(client.PACKAGE_DIR)))"
)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def interrupt(call: subprocess.Popen[str]) -> tuple[int, str]:
    """Ctrl-C as a terminal sends it: SIGINT to the call's process group."""
    os.killpg(call.pid, signal.SIGINT)
    _, err = call.communicate(timeout=120)
    return call.returncode, err


def test_ctrl_c_exits_130_silently_with_or_without_the_warm_grader(calls: Calls) -> None:
    assignment = write_assignment(calls.home, toml_extra='module = "adder"\ntime_limit_s = 60\n')
    slow = calls.home / "slow.py"
    slow.write_text("import time\ndef add(a, b):\n    time.sleep(120)\n    return a + b\n")
    # As from a terminal: SIGINT at its default, which a command started in the
    # background of a script (CI's, say) inherits as ignored.
    command = [
        sys.executable,
        "-c",
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
        *["-m", "gradeflow", "grade", str(assignment), "--code", str(slow)],
    ]

    def start(*flags: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*command, *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=calls.env,
            cwd=calls.home,
            start_new_session=True,
        )

    # Through the warm grader: a server of ours that holds the call.
    name = subprocess.run(
        [sys.executable, "-c", _SOCKET_NAME],
        capture_output=True,
        text=True,
        env=calls.env,
        check=True,
    ).stdout.strip()
    calls.socket_dir.mkdir(parents=True, mode=0o700)
    server = subprocess.Popen(
        [sys.executable, "-c", _SILENT_SERVER, name],
        stdout=subprocess.PIPE,
        text=True,
        cwd=calls.socket_dir,  # a relative name: the full path is too long for a socket
    )
    call = None
    try:
        assert server.stdout is not None
        assert server.stdout.readline() == "listening\n"
        call = start()
        ready, _, _ = select.select([server.stdout], [], [], 120)
        assert ready, "the call never reached the server"
        assert server.stdout.readline() == "called\n"
        assert interrupt(call) == (130, "")
    finally:
        if call is not None and call.returncode is None:
            call.kill()
            call.communicate()
        server.kill()
        server.communicate()

    # In-process: once the sandbox it started (a child) runs the code.
    alone = start("--no-daemon")
    try:
        deadline = time.monotonic() + 120
        while not children_of(alone.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert children_of(alone.pid), "the call started no sandbox"
        assert interrupt(alone) == (130, "")
    finally:
        if alone.returncode is None:
            alone.kill()
            alone.communicate()
