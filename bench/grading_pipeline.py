"""Benchmark: the grading pipeline in one process against the raw sandbox, side by side.

Usage: ``PYTHONPATH=src .venv/bin/python bench/grading_pipeline.py [--submissions N]
[--rounds R] [--mode embedded|services|both]``. Services mode needs the local
PostgreSQL, RabbitMQ and Redis (``make services``).

A quicker look than ``bench/submissions.py`` at what the pipeline (claim, record,
events, purges, announcements) costs next to the runs: N students' distinct
submissions are written first, then one process's grader (``open_runtime(grading=
True)``, 2 sandbox slots) grades them all. Each round measures the raw sandbox (N
graded runs, 2 at a time, no database), then the pipeline, then the raw sandbox
again, and compares the pipeline with the mean of the two raw rates. Also reports
this process's CPU a raw run (the sandbox's host side) and a graded submission (the
same plus the pipeline: the difference is what claiming, recording, events and
announcements cost).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select, update
from stack_tools import admin, clean_broker_and_cache, log

from gradeflow.accounts.models import Role, User
from gradeflow.courses.format import load_assignment
from gradeflow.courses.models import Assignment
from gradeflow.db import create_engine, create_session_factory, transaction, utcnow
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.sandbox import ZygoteSandbox
from gradeflow.grading.service import SubmitRequest, submit_group
from gradeflow.grading.verdicts import FINAL_STATUSES, grade_code
from gradeflow.infra.pubsub import MemoryPubSub
from gradeflow.infra.queue import MemoryQueue
from gradeflow.runtime import open_runtime
from gradeflow.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = ROOT / "demo" / "python-basics" / "01-hello"
SOLUTION = (ASSIGNMENT / "solution.py").read_text()
SLOTS = 2


async def raw_sandbox_rate(runs: int) -> tuple[float, float]:
    """Graded runs a second, and this process's CPU ms a run (the sandbox's host side)."""
    assignment = load_assignment(ASSIGNMENT)
    sandbox = ZygoteSandbox(slots=SLOTS)
    await sandbox.start()
    try:
        await grade_code(sandbox, assignment=assignment, code=SOLUTION)
        started, cpu = time.perf_counter(), time.process_time()
        results = await asyncio.gather(
            *(grade_code(sandbox, assignment=assignment, code=SOLUTION) for _ in range(runs))
        )
        elapsed = time.perf_counter() - started
        used = time.process_time() - cpu
    finally:
        await sandbox.close()
    assert all(r.outcome == "passed" for r in results)
    return runs / elapsed, used / runs * 1000


def gradeflow(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "gradeflow", *args], env=env, check=True,
                   capture_output=True)  # fmt: skip


async def queue_submissions(database_url: str, count: int) -> None:
    """``count`` students, each with one queued submission of distinct code, not published."""
    engine = create_engine(database_url)
    try:
        factory = create_session_factory(engine)
        # Jobs published nowhere: the grader's start-up (embedded) or the publish in
        # ``grade_all`` (services) sends them.
        outbox = Outbox(queue=MemoryQueue(), pubsub=MemoryPubSub(), session_factory=factory)
        async with transaction(factory) as session:
            assignment = await session.scalar(select(Assignment).order_by(Assignment.id))
            assert assignment is not None
            users = [User(email=f"s{n}@bench.example", role=Role.student, created_at=utcnow())
                     for n in range(count)]  # fmt: skip
            session.add_all(users)
            await session.flush()
            requests = [
                SubmitRequest(u.id, assignment.id, assignment.revision, SOLUTION + f"# {n}\n")
                for n, u in enumerate(users)
            ]
            for start in range(0, count, 200):
                await submit_group(session, outbox=outbox, requests=requests[start : start + 200])
        # As if the broker had been down: nothing published yet.
        async with transaction(factory) as session:
            await session.execute(update(Submission).values(published_at=None))
    finally:
        await engine.dispose()


async def grade_all(settings: Settings, count: int) -> tuple[float, float, float]:
    """Graded/s, this process's CPU ms per graded submission, and the mean number of
    claims and results the grader wrote in one transaction."""
    groups: list[int] = []
    factory_engine = create_engine(settings.resolved_database_url)
    factory = create_session_factory(factory_engine)
    try:
        cpu = time.process_time()
        started = time.perf_counter()
        async with open_runtime(settings, grading=False) as publisher:
            if not settings.embedded:
                for _ in range(200):  # the broker connects in the background
                    if await publisher.queue.ping():
                        break
                    await asyncio.sleep(0.05)
                ids = list(range(1, count + 1))
                await publisher.outbox.publish(ids, priority=5)
        async with open_runtime(settings, grading=True) as runtime:
            assert runtime.grader is not None
            runtime.grader.writer.on_group = groups.append
            if not settings.embedded:
                started, cpu = time.perf_counter(), time.process_time()
            # Polled 10 times a second (its CPU counts as the pipeline's: kept small).
            graded = select(func.count()).where(Submission.status.in_(FINAL_STATUSES))
            while True:
                async with factory() as session:
                    final = await session.scalar(graded)
                if final == count:
                    break
                await asyncio.sleep(0.1)
            elapsed = time.perf_counter() - started
            used = time.process_time() - cpu
        async with factory() as session:
            bad = await session.scalar(
                select(func.count()).where(
                    (Submission.status != "passed") | (Submission.attempts != 1)
                )
            )
        assert bad == 0, f"{bad} not passed in one attempt"
    finally:
        await factory_engine.dispose()
    return count / elapsed, used / count * 1000, sum(groups) / max(len(groups), 1)


def pipeline_rate(mode: str, count: int, work: Path) -> tuple[float, float, float]:
    secret = secrets.token_urlsafe(32)
    env = dict(os.environ)
    env.update(GRADEFLOW_SECRET_KEY=secret, GRADEFLOW_GRADER_SLOTS=str(SLOTS))
    name = f"gradeflow_bench_{uuid.uuid4().hex[:8]}"
    if mode == "embedded":
        data = work / f"embedded-{name}"
        env["GRADEFLOW_DATA_DIR"] = str(data)
        database_url = f"sqlite+aiosqlite:///{data / 'gradeflow.sqlite3'}"
    else:
        database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        env.update(
            GRADEFLOW_DATA_DIR=str(work / name),
            GRADEFLOW_DATABASE_URL=database_url,
            GRADEFLOW_BROKER_URL="amqp://guest:guest@127.0.0.1:5672/",
            GRADEFLOW_REDIS_URL="redis://127.0.0.1:6379/0",
            GRADEFLOW_QUEUE_PREFIX=name,
        )
        asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        gradeflow(["db", "upgrade"], env)
        gradeflow(["assignments", "import", str(ASSIGNMENT.parent)], env)
        asyncio.run(queue_submissions(database_url, count))
        keys = [k for k in env if k.startswith("GRADEFLOW_")]
        saved = {k: os.environ.get(k) for k in keys}
        os.environ.update({k: env[k] for k in keys})
        try:
            return asyncio.run(grade_all(Settings(), count))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        if mode == "services":
            asyncio.run(clean_broker_and_cache(name))
            asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--mode", choices=("embedded", "services", "both"), default="both")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gradeflow-pipeline-bench-"))
    modes = ["embedded", "services"] if args.mode == "both" else [args.mode]
    rows = []
    for round_ in range(args.rounds):
        for mode in modes:
            before, before_ms = asyncio.run(raw_sandbox_rate(args.submissions))
            rate, cpu_ms, group = pipeline_rate(mode, args.submissions, work)
            # Raw again after: on a shared machine the load moves between the rounds,
            # and a ratio against one raw round moved with it (52% to 142% for one
            # tree within minutes, PERFORMANCE.md).
            after, after_ms = asyncio.run(raw_sandbox_rate(args.submissions))
            raw, raw_ms = (before + after) / 2, (before_ms + after_ms) / 2
            log(f"round {round_ + 1} {mode}: raw {before:.0f}/s and {after:.0f}/s, graded "
                f"{rate:.0f}/s ({rate / raw:.0%}), CPU ms in this process {raw_ms:.2f} a "
                f"raw run, {cpu_ms:.2f} a graded submission, {group:.1f} a group")  # fmt: skip
            rows.append((round_ + 1, mode, before, after, rate, raw_ms, cpu_ms, group))
    print()
    print("| round | mode | raw sandbox /s before, after | graded end to end /s "
          "| vs raw (mean) | CPU ms a raw run | CPU ms a graded submission "
          "| claims+results a group |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for round_, mode, before, after, rate, raw_ms, cpu_ms, group in rows:
        print(f"| {round_} | {mode} | {before:.0f}, {after:.0f} | {rate:.0f} "
              f"| {rate / ((before + after) / 2):.0%} | {raw_ms:.2f} | {cpu_ms:.2f} "
              f"| {group:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
