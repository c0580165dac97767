"""``gradeflow grade`` through the user's warm grader, importing only the standard
library: the call connects to the server (``server``), starting it first if there
is none, sends what to grade and prints what comes back.

Whenever the warm grader cannot be used (turned off, not trusted, failed to start,
stale), ``grade_through_server`` returns None and the caller grades in-process
exactly as before, so output and exit codes do not depend on the server.
"""

from __future__ import annotations

import fcntl
import os
import select
import socket
import struct
import sys
from typing import Any

from gradeflow.grade_server import location, wire

# pydantic's spellings of a boolean; anything else goes the in-process way, which
# reports the bad value exactly as settings do.
_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}
# Long enough for a zygote to start on a loaded machine; a server that is not ready
# by then is left to its idle timeout and this call grades on its own.
START_TIMEOUT_S = 120.0
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class GradeCall:
    """A ``grade`` call's arguments as typed."""

    def __init__(self, path: str, code: str, as_json: bool) -> None:
        self.path = path
        self.code = code
        self.as_json = as_json


def parse_grade_call(argv: list[str]) -> GradeCall | None:
    """The arguments of ``grade PATH --code FILE [--json]``; None for anything else
    (help, ``--no-daemon``, a typo), which the full command line then handles."""
    if not argv or argv[0] != "grade":
        return None
    paths: list[str] = []
    code: str | None = None
    as_json = False
    rest = iter(argv[1:])
    for argument in rest:
        if argument == "--json":
            as_json = True
        elif argument == "--code":
            code = next(rest, None)
            if code is None or code.startswith("-"):
                return None
        elif argument.startswith("--code="):
            code = argument.removeprefix("--code=")
        elif argument.startswith("-") or not argument:
            return None
        else:
            paths.append(argument)
    if len(paths) != 1 or not code:
        return None
    return GradeCall(paths[0], code, as_json)


def daemon_enabled() -> bool:
    value = os.environ.get("GRADEFLOW_GRADE_DAEMON")
    return value is None or value.strip().lower() in _TRUE


def grade_through_server(argv: list[str]) -> int | None:
    """Grade ``argv`` (``grade ...``) through the warm grader and return the exit code
    after printing its output; None if this call must grade in-process."""
    call = parse_grade_call(argv)
    if call is None or not daemon_enabled() or sys.platform != "linux":
        return None
    directory = location.socket_directory()
    try:
        directory_fd = location.open_private_directory(directory, create=True)
    except location.UntrustedLocation as exc:
        _warn(f"not using the warm grader: {exc}")
        return None
    except OSError:
        return None
    try:
        answer = _ask(call, directory_fd, directory)
    finally:
        os.close(directory_fd)
    if answer is None:
        return None
    stdout, stderr, exit_code = answer.get("stdout"), answer.get("stderr"), answer.get("exit")
    if not (isinstance(stdout, str) and isinstance(stderr, str) and isinstance(exit_code, int)):
        return None
    for text, stream in ((stdout, sys.stdout), (stderr, sys.stderr)):
        if text:
            stream.write(_as_click_writes(text, stream))
            stream.flush()
    return exit_code


def _ask(call: GradeCall, directory_fd: int, directory: str) -> dict[str, Any] | None:
    try:
        cwd = os.getcwd()
    except OSError:
        return None  # a removed directory: the in-process path reports it as always
    key = location.server_key(PACKAGE_DIR)
    socket_path = location.entry_path(directory_fd, directory, location.socket_name(key))
    request = {"cwd": cwd, "path": call.path, "code": call.code, "json": call.as_json}
    for _ in range(2):  # a stale server says so and exits; then once with a new one
        connection = _connect(socket_path)
        if connection is None:
            if not _start_server(directory_fd, directory, key, socket_path):
                return None
            connection = _connect(socket_path)
            if connection is None:
                return None
        try:
            with connection:
                connection.sendall(wire.encode_frame(request))
                answer = wire.receive_frame(connection, limit=wire.MAX_ANSWER_BYTES)
        except (OSError, wire.WireError):
            return None  # the server died mid-call: grade on our own
        if "retry" not in answer:
            return answer
    return None


def _connect(socket_path: str) -> socket.socket | None:
    """A connection to the server at ``socket_path`` if one listens there and runs as
    this user; None if none does."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        connection.connect(socket_path)
        credentials = connection.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
        )
    except OSError:
        connection.close()
        return None
    _pid, uid, _gid = struct.unpack("3i", credentials)
    if uid != os.geteuid():  # the directory is ours, so this cannot happen; never trust it
        connection.close()
        _warn(f"not using the warm grader: {socket_path} is served by uid {uid}")
        return None
    return connection


def _start_server(directory_fd: int, directory: str, key: str, socket_path: str) -> bool:
    """Start the server unless another call has just done so; True once one listens."""
    import subprocess

    lock_path = location.entry_path(directory_fd, directory, location.lock_name(key))
    lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        # One starter at a time; the others wait here and then find it listening.
        fcntl.flock(lock, fcntl.LOCK_EX)
        probe = _connect(socket_path)
        if probe is not None:
            probe.close()
            return True
        log_path = location.entry_path(directory_fd, directory, location.log_name(key))
        log = os.open(
            log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
        )
        try:
            # Its own session, cwd "/", and none of our descriptors: the server must
            # not keep a terminal, a directory or a caller's output pipe open.
            server = subprocess.Popen(
                [sys.executable, "-m", "gradeflow.grade_server.server", directory, key],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd="/",
                start_new_session=True,
            )
        finally:
            os.close(log)
        assert server.stdout is not None
        with server.stdout:
            ready, _, _ = select.select([server.stdout], [], [], START_TIMEOUT_S)
            started = bool(ready) and server.stdout.readline() == b"ready\n"
        server.returncode = 0  # it outlives us by design; nothing to reap or warn about
        return started
    finally:
        os.close(lock)


def _as_click_writes(text: str, stream: Any) -> str:
    """``text`` as the command line's ``typer.echo`` (click) writes it to ``stream``:
    without terminal escape sequences unless it is a terminal (click's own rule)."""
    if "\x1b" not in text or stream.isatty():
        return text
    import re

    return re.sub(r"\033\[[;?0-9]*[a-zA-Z]", "", text)


def _warn(message: str) -> None:
    sys.stderr.write(f"gradeflow: {message}\n")
