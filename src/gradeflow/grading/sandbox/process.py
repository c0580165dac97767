"""``ProcessSandbox``: the unisolated sandbox for development, fresh interpreters.

Each run is a ``python -I -S -B`` judge process that starts its student processes
as fresh interpreters too (``spawn.ProcessSpawner``), so the judge/student split
and the verdict are the same as in the secure sandbox. Isolation here is only fresh
directories, a minimal environment, rlimits and a process group killed at the
deadline: student code runs with the worker's uid and sees the filesystem (the
tests included) and the network. Used only where namespaces are unavailable and the
operator asked for it (``--insecure-sandbox``), and in tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable

import structlog

from gradeflow.grading.sandbox.host_run import Exit, judge_config, run_judged
from gradeflow.grading.sandbox.jailed import launch
from gradeflow.grading.sandbox.jailed.jail import JUDGE_VIEW, STUDENT_VIEW
from gradeflow.grading.sandbox.pipes import RunPipes
from gradeflow.grading.sandbox.results import ProgressCallback, RunResult
from gradeflow.grading.sandbox.spec import RunSpec

log = structlog.get_logger(__name__)

# A pipe holds this much until a reader drains it (Linux's default capacity).
PIPE_CAPACITY_BYTES = 64 * 1024


class ProcessSandbox:
    """Runs each submission as a fresh ``python -I -S -B`` judge process, which starts
    its student processes as fresh interpreters too."""

    def __init__(self, *, python: str = sys.executable) -> None:
        self.python = python

    async def start(self) -> None:
        """Nothing to prepare: every run starts its own interpreter."""

    async def close(self) -> None:
        """Nothing to release."""

    async def run(self, spec: RunSpec, *, on_progress: ProgressCallback | None = None) -> RunResult:
        """Run ``spec``'s tests; every student behaviour becomes a ``RunResult``."""
        return await run_judged(spec, _ProcessLaunch(spec, self.python), on_progress)


class _ProcessLaunch:
    """One run as a process tree of its own, in its own session and process group."""

    extra_readers: tuple[Callable[[bytes], None], ...] = ()
    run_writes_staging = True  # it is the run's working directory

    def __init__(self, spec: RunSpec, python: str) -> None:
        self.spec = spec
        self.python = python
        self.workdir = ""
        self.process: asyncio.subprocess.Process | None = None
        self.started = 0.0

    async def make_staging(self) -> str:
        self.workdir = tempfile.mkdtemp(prefix="gradeflow-run-")
        return self.workdir

    async def start(self, staging: str, nonce: str, write_ends: list[int]) -> None:
        stdout_w, stderr_w, result_w = write_ends
        config_read = _config_pipe(self._judge_config(nonce))
        try:
            self.started = time.monotonic()
            self.process = await asyncio.create_subprocess_exec(
                *launch.command(
                    self.python,
                    "judge",
                    str(config_read),
                    str(result_w),
                    os.path.join(staging, STUDENT_VIEW),
                ),
                cwd=os.path.join(staging, JUDGE_VIEW),
                env=sandbox_environment(staging),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout_w,
                stderr=stderr_w,
                # Only these two descriptors are inherited; close_fds drops the rest.
                pass_fds=(config_read, result_w),
                close_fds=True,
                # Its own session and process group, so the whole tree can be killed.
                start_new_session=True,
            )
        finally:
            os.close(config_read)  # the judge holds it now, or never will

    def _judge_config(self, nonce: str) -> bytes:
        spec = self.spec
        config = {
            **judge_config(spec, nonce),
            # Where the run's time starts: the judge keeps its own deadlines before ours.
            "started": time.monotonic(),
            "output_limit": spec.output_limit_in_run,
            "limits": spec.rlimits(address_space_bytes=spec.judge_memory_bytes),
        }
        return json.dumps(config).encode()

    async def wait(self, pipes: RunPipes) -> Exit:
        process = self.process
        assert process is not None
        timed_out = False
        try:
            await asyncio.wait_for(process.wait(), timeout=self.spec.time_limit_s)
        except TimeoutError:
            timed_out = True
            kill_group(process.pid)
            await process.wait()
        duration_ms = round((time.monotonic() - self.started) * 1000)
        # Also after a normal exit: children that double-forked to outlive the run
        # are still in the group. Done before the pipes are drained, since such
        # children would otherwise hold them open.
        kill_group(process.pid)
        links = frozenset(f"pipe:[{inode}]" for inode in pipes.read_inodes)
        await asyncio.to_thread(kill_stragglers, self.workdir, links)
        returncode = process.returncode
        assert returncode is not None
        return Exit(returncode=returncode, timed_out=timed_out, duration_ms=duration_ms)

    async def abort(self, pipes: RunPipes) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            # Never leave the tree running or unreaped.
            kill_group(process.pid)
            await process.wait()


def _config_pipe(config: bytes) -> int:
    """A pipe already holding ``config`` and closed for writing; returns its read end.

    A pipe rather than argv or the environment, which the student code could read
    back from /proc; the judge reads it to the end and closes it before running
    student code, so the nonce in it has no second reader.
    """
    read_end, write_end = os.pipe()
    try:
        # Non-blocking: with no reader yet, a write that does not fit must fail, not hang.
        os.set_blocking(write_end, False)
        if len(config) > PIPE_CAPACITY_BYTES:
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, len(config))
        if os.write(write_end, config) != len(config):
            raise OSError("the judge's configuration did not fit in its pipe")
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return read_end


def sandbox_environment(workdir: str) -> dict[str, str]:
    """The entire environment of the run: nothing of the worker's leaks in."""
    return {**launch.BARE_ENVIRONMENT, "PYTHONIOENCODING": "utf-8", "HOME": workdir}


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
