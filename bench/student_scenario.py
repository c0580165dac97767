"""Benchmark: the full student scenario with Locust, many students, against the stack.

Usage: ``PYTHONPATH=src .venv/bin/python bench/student_scenario.py [--students N]
[--duration S]`` (as root; needs ``make services``, nginx and the ``bench`` extra).

``gradeflow stack up --web 2 --workers 2`` on a database of its own with the demo
course, then Locust headless (``bench/locust_students.py``: open the page → submit →
wait for the result on the event stream → next assignment) with ``--students``
simulated students for ``--duration`` seconds, on loopback. Afterwards every
submission must be graded ``passed`` in one attempt and there must be one row for
each accepted submit (plus at most one a student still in flight at the end):
nothing lost or doubled. Prints Locust's figures per request as a table.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from stack_tools import log, running_stack

from gradeflow.db import create_engine

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "python-basics"
LOCUSTFILE = Path(__file__).with_name("locust_students.py")
SUBMIT_ROW = "/api/assignments/{id}/submissions"

COUNTS_SQL = """
SELECT count(*),
       count(*) FILTER (WHERE status IN ('passed', 'failed', 'error')),
       count(*) FILTER (WHERE status = 'passed' AND attempts = 1)
FROM submissions
"""


def run_locust(url: str, *, students: int, duration: int, work: Path) -> list[dict[str, str]]:
    """Locust's aggregated rows (its ``_stats.csv``)."""
    prefix = work / "locust"
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", str(students), "-r", str(max(1, students // 5)), "-t", f"{duration}s",
        "--host", url, "--csv", str(prefix), "--only-summary", "--stop-timeout", "5",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    subprocess.run(command, check=False, timeout=duration + 120,
                   stdout=(work / "locust.log").open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    with Path(f"{prefix}_stats.csv").open() as stats:
        return list(csv.DictReader(stats))


async def counts(database_url: str) -> tuple[int, int, int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            total, final, passed_once = (await connection.execute(text(COUNTS_SQL))).one()
    finally:
        await engine.dispose()
    return int(total), int(final), int(passed_once)


def check(database_url: str, rows: list[dict[str, str]], students: int) -> str:
    """Nothing lost or doubled: waits (60 s at most) for the submissions in flight."""
    submits = next(r for r in rows if r["Name"] == SUBMIT_ROW)
    accepted = int(submits["Request Count"]) - int(submits["Failure Count"])
    deadline = time.monotonic() + 60
    while True:
        total, final, passed_once = asyncio.run(counts(database_url))
        if final == total or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert final == total, f"{total - final} submissions not graded within 60 s"
    assert passed_once == total, f"{total - passed_once} not passed in one attempt"
    assert accepted <= total <= accepted + students, f"{accepted} accepted, {total} rows"
    return f"{total} rows for {accepted} accepted submits, all passed in one attempt"


def table(rows: list[dict[str, str]]) -> list[str]:
    lines = [
        "| request | count | per s | p50 ms | p95 ms | p99 ms | failures |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        name = row["Name"] if row["Name"] != "Aggregated" else "all requests"
        lines.append(
            f"| {row['Type']} {name} | {row['Request Count']} | {float(row['Requests/s']):.1f} "
            f"| {row['50%']} | {row['95%']} | {row['99%']} | {row['Failure Count']} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--duration", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gradeflow-locust-"))
    with running_stack(work, DEMO) as stack:
        log(f"locust: {args.students} students for {args.duration} s against {stack.url}")
        rows = run_locust(stack.url, students=args.students, duration=args.duration, work=work)
        verdict = check(stack.database_url, rows, args.students)
        log(f"  checked: {verdict}")
    print()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
    )
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; load average "
          f"{os.getloadavg()[0]:.2f}; locust -u {args.students} -t {args.duration}s")  # fmt: skip
    print()
    print("\n".join(table(rows)))
    print()
    print(f"checked: {verdict}")


if __name__ == "__main__":
    main()
