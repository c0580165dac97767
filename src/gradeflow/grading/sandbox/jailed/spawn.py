"""Starting a run's student processes for its judge, each from a clean interpreter.

In the secure sandbox the zygote forks them (``ZygoteSpawner`` asks it over the
run's request socket); the unjailed ``ProcessSandbox`` starts fresh interpreters
(``ProcessSpawner``). Either way a student process never inherits the judge's
memory, which holds the tests.

Standard library only: it runs inside the jail.
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import sys
from typing import TYPE_CHECKING, Protocol

from gradeflow.grading.sandbox.jailed import launch

if TYPE_CHECKING:
    import subprocess


class Spawner(Protocol):
    """Starts student processes for the judge, each from a clean interpreter."""

    def spawn(self) -> socket.socket:
        """A new student process; the judge's end of its socket."""
        ...

    def end(self) -> str:
        """Kill the current student process if it still runs; how it ended, in words."""
        ...

    def exceeded_memory(self) -> bool:
        """Whether the kernel killed the last ended student process for its cgroup's
        memory limit (False where there are no cgroup limits)."""
        ...

    def close(self) -> None:
        """The run is over: nothing of it may keep running."""
        ...


class ZygoteSpawner:
    """Asks the zygote, over the run's request socket, for student processes."""

    def __init__(self, fd: int, *, first_student: int) -> None:
        self._socket = socket.socket(fileno=fd)
        # Started by the zygote with the run: the first spawn need not ask.
        self._first: socket.socket | None = socket.socket(fileno=first_student)
        # The cgroup limits the last ended student process reached, as the zygote saw.
        self._exceeded: list[object] = []

    def spawn(self) -> socket.socket:
        first, self._first = self._first, None
        if first is not None:
            return first
        self._socket.send(b'{"op": "spawn"}')
        fds = array.array("i")
        data, ancillary, _, _ = self._socket.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        reply = json.loads(data) if data else {}
        if not fds:
            raise OSError(f"the zygote could not start a student process: {reply.get('error')}")
        return socket.socket(fileno=fds[0])

    def end(self) -> str:
        self._socket.send(b'{"op": "end"}')
        reply = json.loads(self._socket.recv(4096) or b"{}")
        status = reply.get("status")
        exceeded = reply.get("exceeded")
        self._exceeded = exceeded if isinstance(exceeded, list) else []
        words = describe_status(status) if isinstance(status, int) else "it had ended"
        if "processes" in self._exceeded:
            words += "; it reached its limit of processes and threads"
        return words

    def exceeded_memory(self) -> bool:
        return "memory" in self._exceeded

    def close(self) -> None:
        """Nothing to do: the zygote ends the student processes with the run."""


class ProcessSpawner:
    """Starts ``python -I -S -B student.py`` processes (the unjailed ``ProcessSandbox``)."""

    def __init__(
        self, *, module: str, directory: str, output_limit: int, memory_bytes: int
    ) -> None:
        self.module = module
        self.directory = directory
        self.output_limit = output_limit
        self.memory_bytes = memory_bytes
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> socket.socket:
        # Here, not at the top: the zygote imports this module, and subprocess brings
        # threading, whose after-fork hook cost every forked child ~120 page faults.
        import subprocess

        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                launch.command(
                    sys.executable,
                    "student",
                    str(theirs.fileno()),
                    self.module,
                    str(self.output_limit),
                    str(self.memory_bytes),
                ),
                cwd=self.directory,
                env=dict(os.environ),
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                close_fds=True,
            )
        finally:
            theirs.close()
        return ours

    def end(self) -> str:
        process, self.process = self.process, None
        if process is None:
            return "it had ended"
        if process.poll() is None:
            process.kill()
        return describe_status(_wait_status(process.wait()))

    def exceeded_memory(self) -> bool:
        return False  # RLIMIT_AS only: a MemoryError, which the student process reports

    def close(self) -> None:
        self.end()


def _wait_status(returncode: int) -> int:
    """A wait status like the zygote's, from ``Popen.returncode``."""
    return (-returncode) & 0x7F if returncode < 0 else (returncode & 0xFF) << 8


def describe_status(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
