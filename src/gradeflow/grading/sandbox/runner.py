"""``ProcessSandbox``: the provisional sandbox, one rlimited interpreter per run.

Isolation here is only a fresh directory, a minimal environment, rlimits, a process
group killed at the deadline and a result channel that printing cannot forge. The
student code runs with the worker's uid, sees the whole filesystem and the network.
It is meant for development until the namespace + seccomp zygote replaces it behind
the same ``Sandbox`` interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import signal
import sys
import tempfile
import time

import structlog

from gradeflow.grading.sandbox import launch
from gradeflow.grading.sandbox.capture import (
    BoundedBuffer,
    PipeReader,
    internal_error,
    read_pipe,
    remove_workdir,
    write_files,
)
from gradeflow.grading.sandbox.results import RunResult
from gradeflow.grading.sandbox.spec import RunSpec
from gradeflow.grading.sandbox.verdict import HarnessReport, LineSplitter, ProcessEnd, decide

log = structlog.get_logger(__name__)

FILE_SIZE_LIMIT = 16 * 1024 * 1024
OPEN_FILES_LIMIT = 64
# After the process group is killed, how long the output pipes may take to reach
# end-of-file before we stop reading (a process outside the group may hold them).
DRAIN_GRACE_S = 0.5


class ProcessSandbox:
    """Runs each submission as a fresh ``python -I -S -B`` judge process, which starts
    its student processes as fresh interpreters too."""

    def __init__(self, *, python: str = sys.executable) -> None:
        self.python = python

    async def start(self) -> None:
        """Nothing to prepare: every run starts its own interpreter."""

    async def close(self) -> None:
        """Nothing to release."""

    async def run(self, spec: RunSpec) -> RunResult:
        """Run ``spec``'s tests; every student behaviour becomes a ``RunResult``."""
        workdir = tempfile.mkdtemp(prefix="gradeflow-run-")
        try:
            for name, files in (("judge", spec.judge_files), ("student", spec.student_files)):
                os.mkdir(os.path.join(workdir, name))
                write_files(os.path.join(workdir, name), files)
            return await self._run_in(workdir, spec)
        except OSError as exc:
            log.exception("sandbox.failed", workdir=workdir)
            return internal_error(spec, f"The sandbox failed: {exc}")
        finally:
            # In a thread: a student can leave many files behind, and the event loop
            # serves other runs meanwhile.
            await asyncio.to_thread(remove_workdir, workdir)

    async def _run_in(self, workdir: str, spec: RunSpec) -> RunResult:
        nonce = secrets.token_urlsafe(24)
        report = HarnessReport(nonce=nonce, expected=frozenset(spec.test_ids))
        splitter = LineSplitter()
        stdout, stderr = (
            BoundedBuffer(spec.output_limit_bytes),
            BoundedBuffer(spec.output_limit_bytes),
        )

        def on_result_data(data: bytes) -> None:
            for line in splitter.feed(data):
                report.add_line(line)

        child_fds: list[int] = []  # the ends the child gets; closed here once it has them
        transports: list[asyncio.BaseTransport] = []
        readers: list[PipeReader] = []
        process: asyncio.subprocess.Process | None = None
        try:
            config_read = _config_pipe(_judge_config(spec, nonce), child_fds)
            pipe_links: set[str] = set()
            pipe_ends: list[int] = []
            for on_data in (stdout.add, stderr.add, on_result_data):
                read_end, write_end = os.pipe()
                child_fds.append(write_end)
                pipe_links.add(f"pipe:[{os.fstat(read_end).st_ino}]")
                read_transport, reader = await read_pipe(read_end, on_data)
                transports.append(read_transport)
                readers.append(reader)
                pipe_ends.append(write_end)
            stdout_w, stderr_w, result_w = pipe_ends

            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                *launch.command(
                    self.python,
                    "judge",
                    str(config_read),
                    str(result_w),
                    os.path.join(workdir, "student"),
                ),
                cwd=os.path.join(workdir, "judge"),
                env=sandbox_environment(workdir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout_w,
                stderr=stderr_w,
                # Only these two descriptors are inherited; close_fds drops the rest.
                pass_fds=(config_read, result_w),
                close_fds=True,
                # Its own session and process group, so the whole tree can be killed.
                start_new_session=True,
            )
            _close_all(child_fds)

            timed_out = False
            try:
                await asyncio.wait_for(process.wait(), timeout=spec.time_limit_s)
            except TimeoutError:
                timed_out = True
                kill_group(process.pid)
                await process.wait()
            duration_ms = round((time.monotonic() - started) * 1000)
            # Also after a normal exit: children that double-forked to outlive the
            # run are still in the group. Done before the pipes are drained, since
            # such children would otherwise hold them open.
            kill_group(process.pid)
            await asyncio.to_thread(kill_stragglers, workdir, frozenset(pipe_links))
            await asyncio.wait([reader.closed for reader in readers], timeout=DRAIN_GRACE_S)
            returncode = process.returncode
            assert returncode is not None
            end = ProcessEnd(
                returncode=returncode,
                timed_out=timed_out,
                duration_ms=duration_ms,
                stdout=stdout.text(),
                stderr=stderr.text(),
            )
            return decide(spec, report, end)
        finally:
            _close_all(child_fds)
            for transport in transports:
                transport.close()
            if process is not None and process.returncode is None:
                # Cancelled or failed mid-run: never leave the tree running or unreaped.
                kill_group(process.pid)
                await process.wait()


def _judge_config(spec: RunSpec, nonce: str) -> bytes:
    return json.dumps(
        {
            "nonce": nonce,
            "module": spec.module,
            "test_ids": list(spec.test_ids),
            "time_limit_s": spec.time_limit_s,
            # Where the run's time starts: the judge keeps its own deadlines before ours.
            "started": time.monotonic(),
            "memory_mb": spec.memory_mb,
            # One character more than is kept: the surplus marks the output truncated.
            "output_limit": spec.output_limit_bytes + 1,
            "limits": {
                "cpu_s": spec.cpu_limit_s,
                "address_space_bytes": spec.judge_memory_bytes,
                "file_size_bytes": FILE_SIZE_LIMIT,
                "open_files": OPEN_FILES_LIMIT,
            },
        }
    ).encode()


def _config_pipe(config: bytes, child_fds: list[int]) -> int:
    """A pipe already holding ``config`` and closed for writing; returns its read end.

    A pipe rather than argv or the environment, which the student code could read
    back from /proc; the judge reads it to the end and closes it before running
    student code, so the nonce in it has no second reader.
    """
    read_end, write_end = os.pipe()
    child_fds.append(read_end)
    try:
        # Non-blocking: with no reader yet, a write that does not fit must fail, not hang.
        os.set_blocking(write_end, False)
        if len(config) > 65536:
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, len(config))
        if os.write(write_end, config) != len(config):
            raise OSError("the judge's configuration did not fit in its pipe")
    finally:
        os.close(write_end)
    return read_end


def _close_all(fds: list[int]) -> None:
    while fds:
        with contextlib.suppress(OSError):
            os.close(fds.pop())


def sandbox_environment(workdir: str) -> dict[str, str]:
    """The entire environment of the run: nothing of the worker's leaks in."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "HOME": workdir,
    }


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # nothing left in the group
        os.killpg(pgid, signal.SIGKILL)


def kill_stragglers(workdir: str, pipe_links: frozenset[str]) -> None:
    """Best effort: kill processes of this run that left its process group (setsid).

    They are recognised by a working directory inside the run directory or by
    holding one of the run's pipes; one that dropped both goes unnoticed until the
    zygote's PID namespace replaces this. pidfds make the kill immune to pid reuse.
    """
    me = os.getpid()
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return
    for pid in pids:
        if pid == me or not _belongs_to_run(pid, workdir, pipe_links):
            continue
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            # The pid may have been reused between the check and pidfd_open: check
            # again now that the pidfd pins the process.
            if _belongs_to_run(pid, workdir, pipe_links):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                log.warning("sandbox.killed_straggler", pid=pid)
        except OSError:
            pass
        finally:
            os.close(pidfd)


def _belongs_to_run(pid: int, workdir: str, pipe_links: frozenset[str]) -> bool:
    # OSError throughout: the process (or one of its fds) is gone, or not ours to inspect.
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
        if cwd == workdir or cwd.startswith(workdir + "/"):
            return True
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in pipe_links:
                return True
        except OSError:
            continue
    return False
