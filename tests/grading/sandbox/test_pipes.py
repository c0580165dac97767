"""The run's pipes under the server's event loop (uvloop): each descriptor is
closed once, so none is taken from another thread that was given the same number."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import uvloop

from gradeflow.grading.sandbox.pipes import RunPipes, read_pipe
from gradeflow.grading.sandbox.spec import RunSpec

PIPES = 3000
THREADS = 3
# Bounds each opener thread even if the pipes' side never ends.
MAX_OPENS = 2_000_000


def _opener(path: Path, stop: threading.Event, stolen: list[str]) -> None:
    """Open, check and close ``path`` again and again, as aiosqlite's threads open the
    database and its WAL; record any descriptor that someone else closed or replaced."""
    expected = os.stat(path).st_ino
    for _ in range(MAX_OPENS):
        if stop.is_set():
            return
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if os.fstat(fd).st_ino != expected:
                stolen.append(f"fd {fd} was replaced")
                return
        except OSError as exc:
            stolen.append(f"fd {fd}: {exc}")
            return
        try:
            os.close(fd)
        except OSError as exc:
            stolen.append(f"fd {fd} closed by someone else: {exc}")
            return


SPEC = RunSpec(
    files={"tests.py": b"", "solution.py": b""},
    module="solution",
    test_ids=["T.test_a"],
    time_limit_s=5,
    memory_mb=64,
)


async def _read_pipes(count: int) -> list[str]:
    """Open a run's pipes ``count`` times, write to the ends a run would hold, and
    read them to end-of-file, as ``run_judged`` does."""
    got: list[str] = []
    for n in range(count):
        pipes = RunPipes(SPEC, "nonce")
        try:
            write_ends = await pipes.open()
            os.write(write_ends[0], b"run %d" % n)
            pipes.handed_over()  # the run's ends: closed, so every pipe reaches EOF
            await asyncio.wait_for(asyncio.gather(*pipes.closed), 10)
        finally:
            pipes.close()
        got.append(pipes.stdout.text())
    return got


def test_no_descriptor_is_closed_twice_under_uvloop(tmp_path: Path) -> None:
    path = tmp_path / "database"
    path.write_bytes(b"rows")
    stop = threading.Event()
    stolen: list[str] = []
    threads = [threading.Thread(target=_opener, args=(path, stop, stolen)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            got = runner.run(_read_pipes(PIPES))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert got == [f"run {n}" for n in range(PIPES)]
    assert stolen == []


async def test_reader_reads_everything_then_closes() -> None:
    read_end, write_end = os.pipe()
    chunks: list[bytes] = []
    reader = await read_pipe(read_end, chunks.append)
    payload = os.urandom(300_000)  # more than a pipe holds: read while written
    writer = asyncio.get_running_loop().run_in_executor(None, _write_all, write_end, payload)
    await asyncio.wait_for(reader.closed, 30)
    await writer
    assert b"".join(chunks) == payload
    reader.close()
    reader.close()


def _write_all(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as pipe:
        pipe.write(data)


async def test_a_pausing_reader_reads_everything_in_batches_then_closes() -> None:
    read_end, write_end = os.pipe()
    chunks: list[bytes] = []
    reader = await read_pipe(read_end, chunks.append, pause_s=0.01)
    payload = os.urandom(300_000)  # more than a pipe holds: the writer waits for reads
    writer = asyncio.get_running_loop().run_in_executor(None, _write_all, write_end, payload)
    await asyncio.wait_for(reader.closed, 30)
    await writer
    assert b"".join(chunks) == payload
    reader.close()


async def test_a_run_s_pipes_are_drained_to_the_end_without_pausing() -> None:
    pipes = RunPipes(SPEC, "nonce", pause_s=3600)  # never watched again by itself
    try:
        write_ends = await pipes.open()
        os.write(write_ends[0], b"printed")
        pipes.handed_over()
        await asyncio.wait_for(pipes.drain(), 10)
        assert all(closed.done() for closed in pipes.closed)
    finally:
        pipes.close()
    assert pipes.stdout.text() == "printed"


async def test_a_pipe_still_held_after_the_run_is_read_so_far_and_watched() -> None:
    pipes = RunPipes(SPEC, "nonce", pause_s=3600)
    try:
        write_ends = await pipes.open()
        held = os.dup(write_ends[0])  # a process that escaped the run keeps stdout
        os.write(held, b"before")
        pipes.handed_over()
        await asyncio.wait_for(pipes.drain(), 10)
        assert pipes.stdout.text() == "before"
        assert not pipes.closed[0].done()
        os.write(held, b", after")
        os.close(held)
        await asyncio.wait_for(pipes.closed[0], 10)
    finally:
        pipes.close()
    assert pipes.stdout.text() == "before, after"


async def test_a_writer_that_never_stops_does_not_hold_the_drain() -> None:
    pipes = RunPipes(SPEC, "nonce", pause_s=3600)
    stop = threading.Event()
    try:
        write_ends = await pipes.open()
        held = os.dup(write_ends[0])
        pipes.handed_over()
        flood = threading.Thread(target=_flood, args=(held, stop))
        flood.start()
        try:
            await asyncio.wait_for(pipes.drain(), 10)
        finally:
            stop.set()
            flood.join(timeout=30)
        assert pipes.stdout.truncated
    finally:
        pipes.close()


def _flood(fd: int, stop: threading.Event) -> None:
    chunk = b"x" * 65536
    os.set_blocking(fd, False)  # never stuck on a full pipe once the test stops it
    try:
        while not stop.is_set():
            try:
                os.write(fd, chunk)
            except BlockingIOError:
                time.sleep(0.001)
    except OSError:
        pass  # the reader closed its end
    finally:
        os.close(fd)
