"""The pipes a run writes to, read on the host: stdout and stderr into bounded
buffers, the judge's result channel into its report.

Everything here must hold up against what a run can push through its pipes: any
amount, at any pace, for as long as any process of it holds them open.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

import structlog

from gradeflow.grading.sandbox.results import ProgressCallback, RunResult
from gradeflow.grading.sandbox.spec import RunSpec
from gradeflow.grading.sandbox.verdict import (
    HarnessReport,
    LineSplitter,
    ProcessEnd,
    decide,
    without_nul,
)

TRUNCATED_MARKER = "\n[output truncated]"

log = structlog.get_logger(__name__)


# One read's worth: what a pipe holds by default.
READ_CHUNK = 64 * 1024
# Reads of a pipe in one go when a run has ended (``PipeReader.read_to_the_end``).
DRAIN_READS = 16


class PipeReader:
    """Reads a pipe's read end as it fills, handing each chunk to ``on_data``;
    ``closed`` resolves at end-of-file or ``close``, whichever is first.

    With ``pause_s``, the reader stops watching the pipe for that long when it starts
    and after each chunk, so that what a run writes meanwhile is read in one go: a
    writer wakes a process waiting on its pipe, which on a busy machine takes the
    writer's CPU from it (a run's judge writes a line per test started and finished,
    and was preempted by this process for each). ``resume`` watches it again at once;
    ``read_to_the_end`` reads what is there, then watches without pausing again.

    It owns the descriptor and closes it exactly once. Not an event loop's pipe
    transport: uvloop's (the server's loop) closes the descriptor in libuv and then
    closes the file object it was given again, and in between another thread (an
    aiosqlite connection opening the database or its WAL, a run's cleanup) may have
    been given the same number; the second close then took it from them ("disk I/O
    error" from SQLite, EBADF when handing a run its pipes).
    """

    def __init__(
        self, read_end: int, on_data: Callable[[bytes], None], pause_s: float = 0.0
    ) -> None:
        self.on_data = on_data
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loop = asyncio.get_running_loop()
        self._fd: int | None = read_end
        self._pause_s = pause_s
        self._watching = False
        self._resuming: asyncio.TimerHandle | None = None
        os.set_blocking(read_end, False)
        if pause_s > 0:
            self._resuming = self._loop.call_later(pause_s, self.resume)
        else:
            self.resume()

    def resume(self) -> None:
        """Watch the pipe (again) now."""
        if self._resuming is not None:
            self._resuming.cancel()
            self._resuming = None
        if self._fd is not None and not self._watching:
            self._loop.add_reader(self._fd, self._read_ready)
            self._watching = True

    def read_to_the_end(self) -> None:
        """Read what the pipe holds now, up to end-of-file if every writer is gone,
        then watch it for the rest. A run that ended has closed its ends: this reads
        its last output and the end-of-file at once, instead of one turn of the
        event loop each. Bounded, for a writer that escaped the run and keeps writing."""
        self._pause_s = 0.0
        for _ in range(DRAIN_READS):
            data = self._read()
            if not data:
                if data is None:
                    break
                return
            self.on_data(data)
        self.resume()

    def _read_ready(self) -> None:
        fd = self._fd
        data = self._read()
        if fd is None or not data:
            return
        if self._pause_s > 0 and len(data) < READ_CHUNK:  # a full read: more is waiting
            self._loop.remove_reader(fd)
            self._watching = False
            self._resuming = self._loop.call_later(self._pause_s, self.resume)
        self.on_data(data)

    def _read(self) -> bytes | None:
        """One read: its bytes; None when nothing is there yet; b"" once the pipe is
        closed (end-of-file, a failed read, or closed before)."""
        fd = self._fd
        if fd is None:
            return b""
        try:
            data = os.read(fd, READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            log.exception("sandbox.pipe_read_failed")
            data = b""
        if not data:
            self.close()
        return data

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if self._resuming is not None:
            self._resuming.cancel()
            self._resuming = None
        if fd is not None:
            if self._watching:
                self._loop.remove_reader(fd)
                self._watching = False
            os.close(fd)
        if not self.closed.done():
            self.closed.set_result(None)


async def read_pipe(
    read_end: int, on_data: Callable[[bytes], None], pause_s: float = 0.0
) -> PipeReader:
    """Start reading ``read_end`` (which the returned reader then owns)."""
    try:
        return PipeReader(read_end, on_data, pause_s)
    except BaseException:
        os.close(read_end)
        raise


class BoundedBuffer:
    """Keeps the first ``limit`` bytes of a stream and drops (but counts) the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.truncated = True
        if room > 0:
            self.data += chunk[:room]

    def text(self) -> str:
        text = without_nul(self.data.decode("utf-8", errors="replace"))
        return text + TRUNCATED_MARKER if self.truncated else text


# How long the run's own pipes (stdout, stderr, result channel) go unwatched when a
# run starts and after each read (see PipeReader): well below what a person watching
# a run's progress notices, and above what a short run takes, which is then read once,
# when it has ended.
READ_PAUSE_S = 0.02

# After a run ended, how long its output pipes may take to reach end-of-file before
# we stop reading (a process that escaped the run could hold them open).
DRAIN_GRACE_S = 0.5


class RunPipes:
    """The pipes a run writes to, read as they fill: stdout and stderr into bounded
    buffers, the judge's result channel into its report, and any extra pipes the
    caller asks for (``host_run`` opens it for both sandboxes); ``close`` releases it all.

    ``pause_s``: how long the run's own pipes go unwatched at the start and after each
    read (``PipeReader``); the extra pipes are always watched."""

    def __init__(
        self,
        spec: RunSpec,
        nonce: str,
        on_progress: ProgressCallback | None = None,
        *,
        pause_s: float = 0.0,
    ) -> None:
        self.spec = spec
        self.pause_s = pause_s
        self.report = HarnessReport(nonce=nonce, expected=frozenset(spec.test_ids))
        self.on_progress = on_progress
        if on_progress is not None:
            self.report.on_change = self.report_progress
        self._splitter = LineSplitter()
        self.stdout = BoundedBuffer(spec.output_limit_bytes)
        self.stderr = BoundedBuffer(spec.output_limit_bytes)
        self.write_ends: list[int] = []  # the run's ends, closed once it holds them
        self.read_inodes: set[int] = set()
        self._readers: list[PipeReader] = []
        self.closed: list[asyncio.Future[None]] = []

    async def open(self, *extra: Callable[[bytes], None]) -> list[int]:
        """The write ends: stdout, stderr, the result channel, then one per ``extra``."""
        own = (self.stdout.add, self.stderr.add, self._on_result)
        for index, on_data in enumerate((*own, *extra)):
            read_end, write_end = os.pipe()
            self.write_ends.append(write_end)
            self.read_inodes.add(os.fstat(read_end).st_ino)
            pause_s = self.pause_s if index < len(own) else 0.0
            reader = await read_pipe(read_end, on_data, pause_s)
            self._readers.append(reader)
            self.closed.append(reader.closed)
        return list(self.write_ends)

    def _on_result(self, data: bytes) -> None:
        for line in self._splitter.feed(data):
            self.report.add_line(line)

    def report_progress(self) -> None:
        """Tell ``on_progress`` how far the run has got; its failure is logged, never
        the run's."""
        if self.on_progress is None:
            return
        try:
            self.on_progress(self.report.progress())
        except Exception:
            log.exception("sandbox.progress_callback_failed")

    def handed_over(self) -> None:
        """The run holds its ends now: ours are closed, so end-of-file means it is done."""
        close_all(self.write_ends)

    async def drain(self) -> None:
        """Wait (a little) for the run's output to be read to the end."""
        for reader in self._readers:
            reader.read_to_the_end()
        open_ends = [closed for closed in self.closed[:3] if not closed.done()]
        if open_ends:
            await asyncio.wait(open_ends, timeout=DRAIN_GRACE_S)

    def result(self, *, returncode: int, timed_out: bool, duration_ms: int) -> RunResult:
        end = ProcessEnd(
            returncode=returncode,
            timed_out=timed_out,
            duration_ms=duration_ms,
            stdout=self.stdout.text(),
            stderr=self.stderr.text(),
        )
        return decide(self.spec, self.report, end)

    def close(self) -> None:
        close_all(self.write_ends)
        for reader in self._readers:
            reader.close()


def close_all(fds: list[int]) -> None:
    """Close and forget every descriptor of ``fds``."""
    while fds:
        with contextlib.suppress(OSError):
            os.close(fds.pop())
