"""Benchmark: submit → result seen on the event stream, next to the raw sandbox run.

Usage: ``PYTHONPATH=src .venv/bin/python bench/live_results.py [--submissions N]
[--mode embedded|services|both] [--busy B]``. Embedded mode needs nothing but this
checkout (SQLite, in-process queue); services mode the local PostgreSQL, RabbitMQ and
Redis (``make services``) and nginx: ``gradeflow stack up --web 2 --workers 2``,
through nginx.

1. Baseline: the demo course's first assignment graded N times straight through a
   ``ZygoteSandbox(slots=1)`` in this process, one run after another (what grading
   itself costs, with no web, database or queue).
2. gradeflow: ``gradeflow serve`` on a free loopback port with a fresh data
   directory and the demo course imported. One student opens ``GET /api/events``,
   then submits the same assignment's solution N times (each with a different
   comment, so no result is reused), each after the previous one's final event (a
   student has one submission pending at a time). A latency is the time from just
   before the ``POST`` to the event that carries that submission's final status.

3. The same at saturation: ``--busy`` other students (each with a session and an
   event stream of its own) submit one after another as fast as their results come,
   while the measured student does the same as in 2 (so the latency includes the
   wait behind the other students' runs in the queue).

Prints p50/p95/p99 of each, at idle (one submission in flight) and at saturation,
and what the pipeline adds to a run at idle (submit, queue, claim, record, event,
stream), broken down by the timestamps along the path: the client's clock at the
POST, its answer and the event's arrival, and the rows' own (``created_at``,
``published_at``, ``started_at`` = the claim's write, ``finished_at`` = the result's
write, the final event's ``created_at``; one host, one clock).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import select
from stack_tools import running_stack, wait_for

from gradeflow.courses.format import load_assignment
from gradeflow.db import create_engine, create_session_factory
from gradeflow.events.models import Event
from gradeflow.grading.models import Submission
from gradeflow.grading.sandbox import ZygoteSandbox
from gradeflow.grading.verdicts import grade_code

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "python-basics"
FINAL = {"passed", "failed", "error"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[94], cuts[98]


async def raw_sandbox(directory: Path, runs: int) -> list[float]:
    assignment = load_assignment(directory)
    code = (directory / "solution.py").read_text()
    sandbox = ZygoteSandbox(slots=1)
    await sandbox.start()
    try:
        await grade_code(sandbox, assignment=assignment, code=code)  # warm
        took = []
        for _ in range(runs):
            started = time.perf_counter()
            result = await grade_code(sandbox, assignment=assignment, code=code)
            took.append((time.perf_counter() - started) * 1000)
            if result.outcome != "passed":
                raise SystemExit(f"the reference solution did not pass: {result.message}")
        return took
    finally:
        await sandbox.close()


# One measured submission's client clock (time.time()): posted, answered, result seen.
Trace = tuple[int, float, float, float]
STAGES = (
    ("POST → row created (web: request, intake)", "posted", "created"),
    ("row created → job published (commit, broker confirm)", "created", "published"),
    ("row created → POST answered at the client", "created", "answered"),
    ("job published → claim written (broker delivery, worker, claim)", "published", "started"),
    ("claim written → result written (claim commit, sandbox run)", "started", "finished"),
    ("result written → final event row", "finished", "event"),
    ("final event row → seen on the stream (commit, notify, stream read, nginx)",
     "event", "seen"),
)  # fmt: skip


async def stage_times(database_url: str, traces: list[Trace]) -> list[dict[str, float]]:
    """Each traced submission's timestamps along the path, in seconds since the epoch."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            ids = [t[0] for t in traces]
            rows = {
                s.id: s
                for s in await session.scalars(select(Submission).where(Submission.id.in_(ids)))
            }
            finals: dict[int, float] = {}
            users = {s.user_id for s in rows.values()}
            for event in await session.scalars(select(Event).where(Event.user_id.in_(users))):
                submission = event.payload.get("submission") or {}
                if submission.get("id") in rows and submission.get("status") in FINAL:
                    finals.setdefault(submission["id"], event.created_at.timestamp())
    finally:
        await engine.dispose()
    times = []
    for submission_id, posted, answered, seen in traces:
        row = rows[submission_id]
        published, started, finished = row.published_at, row.started_at, row.finished_at
        if published is None or started is None or finished is None:
            continue  # reused or swept: not the path measured here
        times.append({
            "posted": posted, "answered": answered, "seen": seen,
            "created": row.created_at.timestamp(), "published": published.timestamp(),
            "started": started.timestamp(), "finished": finished.timestamp(),
            "event": finals.get(submission_id, seen),
        })  # fmt: skip
    return times


def print_breakdown(label: str, times: list[dict[str, float]]) -> None:
    print(f"\n{label}, where the time goes ({len(times)} submissions; ms):\n")
    print("| stage | p50 | p95 | max |")
    print("|---|---|---|---|")
    for name, start, end in STAGES:
        spans = sorted((t[end] - t[start]) * 1000 for t in times)
        p95 = spans[min(len(spans) - 1, int(len(spans) * 0.95))]
        print(f"| {name} | {statistics.median(spans):.1f} | {p95:.1f} | {spans[-1]:.1f} |")


def gradeflow(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "gradeflow", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


async def with_busy_students(
    base: str, directory: Path, submissions: int, busy: int, traces: list[Trace]
) -> tuple[list[float], int]:
    """``submit_and_watch`` while ``busy`` other students submit non-stop; returns its
    latencies and how many of the others' submissions were graded meanwhile."""
    graded: list[float] = []
    # Bounded by the measured student: they stop once it is done. A flag, not only a
    # cancellation: Python 3.11's wait_for loses a cancellation that arrives as the
    # awaited result does, and a student left looping kept the run going for ever.
    done = asyncio.Event()

    async def other_student() -> None:
        graded.extend(await submit_and_watch(base, directory, 1_000_000, until=done))

    others = [asyncio.create_task(other_student()) for _ in range(busy)]
    try:
        await asyncio.sleep(2)  # the queue fills
        took = await submit_and_watch(base, directory, submissions, traces)
    finally:
        done.set()
        for task in others:
            task.cancel()
        results = await asyncio.gather(*others, return_exceptions=True)
    failed = [
        r for r in results if isinstance(r, Exception) and not isinstance(r, asyncio.CancelledError)
    ]
    if failed:
        raise SystemExit(f"a busy student failed: {failed[0]!r}")
    return took, len(graded)


async def submit_and_watch(
    base: str,
    directory: Path,
    submissions: int,
    traces: list[Trace] | None = None,
    *,
    until: asyncio.Event | None = None,
) -> list[float]:
    solution = (directory / "solution.py").read_text()
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        (await client.post("/api/session")).raise_for_status()
        assignments = (await client.get("/api/assignments")).json()["items"]
        names = {directory.name, directory.name.split("-", 1)[-1]}
        found = [a for a in assignments if a["slug"] in names]
        if not found:
            raise SystemExit(f"{directory.name} is not among {[a['slug'] for a in assignments]}")
        assignment = found[0]
        finals: asyncio.Queue[tuple[int, float]] = asyncio.Queue()

        async def listen() -> None:
            async with client.stream("GET", "/api/events") as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        data = json.loads(line[6:])
                        submission = data.get("submission") or {}
                        if submission.get("status") in FINAL:
                            await finals.put((submission["id"], time.perf_counter()))

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.5)  # the stream is open
        took = []
        try:
            for n in range(submissions + 1):
                if until is not None and until.is_set():
                    break
                code = f"{solution}\n# submission {n} at {time.time_ns()}\n"
                posted, started = time.time(), time.perf_counter()
                accepted = await client.post(
                    f"/api/assignments/{assignment['id']}/submissions", json={"code": code}
                )
                accepted.raise_for_status()
                answered = time.time()
                wanted = accepted.json()["id"]
                while True:
                    seen, at = await asyncio.wait_for(finals.get(), 60)
                    if seen == wanted:
                        break
                if n:  # the first one warms the path up
                    took.append((at - started) * 1000)
                    if traces is not None:
                        seen = posted + (at - started)
                        traces.append((wanted, posted, answered, seen))
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        return took


def measure(
    base: str, directory: Path, submissions: int, busy: int, database_url: str
) -> tuple[list[float], list[dict[str, float]]]:
    """The latencies, and each one's timestamps along the path."""
    traces: list[Trace] = []
    if not busy:
        took = asyncio.run(submit_and_watch(base, directory, submissions, traces))
    else:
        took, _ = asyncio.run(with_busy_students(base, directory, submissions, busy, traces))
    return took, asyncio.run(stage_times(database_url, traces))


def start_server(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``gradeflow serve`` with a fresh data directory and the demo course, answering."""
    port = free_port()
    env = os.environ | {"GRADEFLOW_DATA_DIR": str(work / "var"), "GRADEFLOW_PORT": str(port)}
    gradeflow(["db", "upgrade"], env)
    gradeflow(["assignments", "import", str(DEMO)], env)
    output = work / "serve.log"
    server = subprocess.Popen([sys.executable, "-m", "gradeflow", "serve"], env=env,
                              stdout=output.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/readyz", timeout=60, process=server, output=output)
    except SystemExit:
        server.kill()
        raise
    return server, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--mode", choices=("embedded", "services", "both"), default="embedded")
    parser.add_argument("--busy", type=int, default=0, help="other students (saturation)")
    args = parser.parse_args()
    directory = sorted(p for p in DEMO.iterdir() if p.is_dir())[0]
    work = Path(tempfile.mkdtemp(prefix="gradeflow-live-"))

    print(f"baseline: {args.submissions} runs of {directory.name} in ZygoteSandbox(slots=1)")
    rows = [("raw sandbox run (baseline)", asyncio.run(raw_sandbox(directory, args.submissions)))]
    breakdowns: list[tuple[str, list[dict[str, float]]]] = []
    loads = [0, args.busy] if args.busy else [0]
    for mode in ("embedded", "services") if args.mode == "both" else (args.mode,):
        for busy in loads:
            label = f"submit → final result on /api/events ({mode}, " + (
                f"{busy} other students submitting)" if busy else "idle)"
            )
            print(f"{label}: {args.submissions} submissions")
            if mode == "embedded":
                server, base = start_server(work / f"embedded-{busy}")
                sqlite_file = work / f"embedded-{busy}" / "var" / "gradeflow.sqlite3"
                database = f"sqlite+aiosqlite:///{sqlite_file}"
                try:
                    took, times = measure(base, directory, args.submissions, busy, database)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
            else:
                with running_stack(work, DEMO) as stack:
                    took, times = measure(
                        stack.url, directory, args.submissions, busy, stack.database_url
                    )
            rows.append((label, took))
            breakdowns.append((label, times))

    print()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
    )
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print()
    print("| what | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|")
    for label, samples in rows:
        p50, p95, p99 = percentiles(samples)
        print(f"| {label} | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
    print()
    raw = statistics.median(rows[0][1])
    for label, samples in rows[1:]:
        print(
            f"{label}: the pipeline adds {statistics.median(samples) - raw:.1f} ms to the median run"
        )
    for label, times in breakdowns:
        print_breakdown(label, times)


if __name__ == "__main__":
    main()
