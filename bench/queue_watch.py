"""Benchmark: what a web process's queue watch costs a second, against the old read.

Usage: ``PYTHONPATH=src .venv/bin/python bench/queue_watch.py [--queued 1000,10000,50000]
[--watchers 1000] [--repeats 20] [--db sqlite,postgres]``. PostgreSQL is the local
one (a database created and dropped here).

For each queue length, ``--watchers`` students watch on one process. Measured, in
turns so that load hits both alike: ``QueueWatch.refresh()`` as it is now (the rank of
every watching student's submission over the whole interactive queue, plus the pace's
aggregate) against the read it replaced in the same run (the ids and students of the
first 1,000 queued submissions by id, which gave no position beyond 1,000). The
median milliseconds of each, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

from sqlalchemy import select
from stack_tools import admin

from gradeflow.accounts.models import Role, User
from gradeflow.courses.models import Assignment
from gradeflow.db import create_engine, create_session_factory, transaction
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.queue_watch import QueueWatch
from gradeflow.grading.service import SubmitRequest, submit_group
from gradeflow.grading.verdicts import SubmissionStatus
from gradeflow.infra.pubsub import MemoryPubSub
from gradeflow.infra.queue import MemoryQueue

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "demo" / "python-basics"
OLD_HEAD_LIMIT = 1000


async def queue_submissions(database_url: str, count: int) -> list[int]:
    """``count`` students with one queued submission each; their user ids in queue order."""
    engine = create_engine(database_url)
    try:
        factory = create_session_factory(engine)
        outbox = Outbox(queue=MemoryQueue(), pubsub=MemoryPubSub(), session_factory=factory)
        user_ids: list[int] = []
        for start in range(0, count, 5000):
            async with transaction(factory) as session:
                assignment = await session.scalar(select(Assignment).order_by(Assignment.id))
                assert assignment is not None
                users = [User(role=Role.student) for _ in range(min(5000, count - start))]
                session.add_all(users)
                await session.flush()
                requests = [
                    SubmitRequest(u.id, assignment.id, assignment.revision, f"# {u.id}\n")
                    for u in users
                ]
                for at in range(0, len(requests), 500):
                    await submit_group(session, outbox=outbox, requests=requests[at : at + 500])
                user_ids += [u.id for u in users]
        return user_ids
    finally:
        await engine.dispose()


async def measure(database_url: str, user_ids: list[int], watchers: int, repeats: int) -> tuple[float, float]:  # fmt: skip
    """Median ms of the old head read and of ``QueueWatch.refresh()``, taken in turns."""
    engine = create_engine(database_url)
    factory = create_session_factory(engine)
    # Watching students spread over the whole queue, front to back.
    step = max(1, len(user_ids) // watchers)
    watching = user_ids[::step][:watchers]
    watch = QueueWatch(factory, interval_s=3600)  # refreshed here only, after its first look
    old: list[float] = []
    new: list[float] = []
    try:
        async with AsyncExitStack() as stack:
            for user_id in watching:
                await stack.enter_async_context(watch.watch(user_id))
            await watch.refresh()
            for _ in range(repeats):
                started = time.perf_counter()
                async with factory() as session:
                    head = await session.execute(
                        select(Submission.id, Submission.user_id)
                        .where(
                            Submission.status == SubmissionStatus.queued,
                            Submission.regrading.is_(False),
                        )
                        .order_by(Submission.id)
                        .limit(OLD_HEAD_LIMIT)
                    )
                    assert len(head.all()) == min(OLD_HEAD_LIMIT, len(user_ids))
                old.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                await watch.refresh()
                new.append((time.perf_counter() - started) * 1000)
            last = watch.place_of(watching[-1])
            assert last is not None
            assert last.position == user_ids.index(watching[-1]) + 1
        return statistics.median(old), statistics.median(new)
    finally:
        await watch.close()
        await engine.dispose()


def prepare(kind: str, work: Path) -> tuple[str, str | None]:
    """A migrated database with the demo course: its URL and, for PostgreSQL, its name."""
    name = f"gradeflow_bench_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
    env["GRADEFLOW_SECRET_KEY"] = uuid.uuid4().hex * 2
    if kind == "sqlite":
        env["GRADEFLOW_DATA_DIR"] = str(work / name)
        url = f"sqlite+aiosqlite:///{work / name / 'gradeflow.sqlite3'}"
        created = None
    else:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        asyncio.run(admin(f"CREATE DATABASE {name}"))
        env.update(GRADEFLOW_DATA_DIR=str(work / name), GRADEFLOW_DATABASE_URL=url)
        created = name
    for args in (["db", "upgrade"], ["assignments", "import", str(COURSE)]):
        subprocess.run([sys.executable, "-m", "gradeflow", *args], env=env, check=True,
                       capture_output=True)  # fmt: skip
    return url, created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queued", default="1000,10000,50000")
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gradeflow-queue-watch-bench-"))
    rows = []
    for kind in args.db.split(","):
        for queued in (int(n) for n in args.queued.split(",")):
            url, created = prepare(kind, work)
            try:
                user_ids = asyncio.run(queue_submissions(url, queued))
                watchers = min(args.watchers, queued)
                old, new = asyncio.run(measure(url, user_ids, watchers, args.repeats))
            finally:
                if created:
                    asyncio.run(admin(f"DROP DATABASE IF EXISTS {created} WITH (FORCE)"))
            rows.append((kind, queued, watchers, old, new))
            print(f"done {kind} {queued}", file=sys.stderr)
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"{'db':<9}{'queued':>8}{'watching':>10}{'old head read ms':>18}"
          f"{'refresh ms':>12}{'ratio':>8}")  # fmt: skip
    for kind, queued, watchers, old, new in rows:
        print(f"{kind:<9}{queued:>8}{watchers:>10}{old:>18.2f}{new:>12.2f}{new / old:>8.1f}")


if __name__ == "__main__":
    main()
