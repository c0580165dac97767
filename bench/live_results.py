"""Benchmark: submit → result seen on the event stream, next to the raw sandbox run.

Usage: ``PYTHONPATH=src .venv/bin/python bench/live_results.py [--submissions N]``.
Needs nothing but this checkout (embedded mode: SQLite, in-process queue).

1. Baseline: the demo course's first assignment graded N times straight through a
   ``ZygoteSandbox(slots=1)`` in this process, one run after another (what grading
   itself costs, with no web, database or queue).
2. gradeflow: ``gradeflow serve`` on a free loopback port with a fresh data
   directory and the demo course imported. One student opens ``GET /api/events``,
   then submits the same assignment's solution N times (each with a different
   comment, so no result is reused), each after the previous one's final event (a
   student has one submission pending at a time). A latency is the time from just
   before the ``POST`` to the event that carries that submission's final status.

Prints p50/p95/p99 of both, at idle (one submission in flight), and what the
pipeline adds to a run (submit, queue, claim, record, event, stream).
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

from gradeflow.courses.format import load_assignment
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


def gradeflow(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "gradeflow", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


async def submit_and_watch(base: str, directory: Path, submissions: int) -> list[float]:
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
                code = f"{solution}\n# submission {n} at {time.time_ns()}\n"
                started = time.perf_counter()
                accepted = await client.post(
                    f"/api/assignments/{assignment['id']}/submissions", json={"code": code}
                )
                accepted.raise_for_status()
                wanted = accepted.json()["id"]
                while True:
                    seen, at = await asyncio.wait_for(finals.get(), 60)
                    if seen == wanted:
                        break
                if n:  # the first one warms the path up
                    took.append((at - started) * 1000)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        return took


def start_server(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``gradeflow serve`` with a fresh data directory and the demo course, answering."""
    port = free_port()
    env = os.environ | {"GRADEFLOW_DATA_DIR": str(work / "var"), "GRADEFLOW_PORT": str(port)}
    gradeflow(["db", "upgrade"], env)
    gradeflow(["assignments", "import", str(DEMO)], env)
    log = (work / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "gradeflow", "serve"], env=env,
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit(f"gradeflow serve did not start: {work / 'serve.log'}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=100)
    args = parser.parse_args()
    directory = sorted(p for p in DEMO.iterdir() if p.is_dir())[0]

    print(f"baseline: {args.submissions} runs of {directory.name} in ZygoteSandbox(slots=1)")
    raw = asyncio.run(raw_sandbox(directory, args.submissions))
    server, base = start_server(Path(tempfile.mkdtemp(prefix="gradeflow-live-")))
    try:
        print(f"gradeflow serve (embedded) on {base}: {args.submissions} submissions")
        live = asyncio.run(submit_and_watch(base, directory, args.submissions))
    finally:
        server.terminate()
        server.wait(timeout=30)

    print()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
    )
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print()
    print("| what | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|")
    for label, samples in (
        ("raw sandbox run (baseline)", raw),
        ("submit → final result on /api/events (embedded)", live),
    ):
        p50, p95, p99 = percentiles(samples)
        print(f"| {label} | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
    print()
    added = statistics.median(live) - statistics.median(raw)
    print(f"the pipeline adds {added:.1f} ms to the median run")


if __name__ == "__main__":
    main()
