"""Benchmark: a 1,000,000-row grade file imported end to end, against a plain COPY.

Usage: ``.venv/bin/python bench/grade_import.py [--students N] [--assessments N]``
with PostgreSQL, RabbitMQ and Redis running locally (``make services``).

In a fresh PostgreSQL database, a course with N enrolled students (default 10,000)
gets a CSV of N x A rows (default A = 100: one million rows of ``student,
assessment, grade, comment``). Two ways to get those grades into the database:

- baseline: ``COPY grades_copy FROM STDIN`` of the same rows, student ids already
  resolved, into a table of the shape of ``grades`` (``LIKE grades INCLUDING ALL``:
  the same columns, primary key, unique key and index);
- gradeflow: services mode as deployed — a real ``gradeflow web`` process receives
  the file as a streamed multipart upload over HTTP (into a PostgreSQL large object),
  a real ``gradeflow worker`` takes the import from RabbitMQ, stages, checks and
  applies it (history rows included); timed from the first byte sent until the
  upload reads ``applied``.

Prints seconds, rows per second and the ratio, and the peak RSS (VmHWM) of the
worker and of the web process.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from gradeflow.migrate import upgrade_database

ROOT = Path(__file__).resolve().parents[1]
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"
PASSWORD = "bench password 123"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def create_world(dsn: str, students: int) -> tuple[int, list[int]]:
    """A teacher (signed in by password) and a course with ``students`` enrolled."""
    from gradeflow.accounts.security import hash_password

    connection = await asyncpg.connect(dsn)
    try:
        now = datetime.datetime.now(datetime.UTC)
        teacher = await connection.fetchval(
            "INSERT INTO users (email, password_hash, role, created_at) "
            "VALUES ('teacher@example.org', $1, 'teacher', $2) RETURNING id",
            await asyncio.to_thread(hash_password, PASSWORD),
            now,
        )
        course = await connection.fetchval(
            "INSERT INTO courses (slug, title, description, public, created_at, updated_at) "
            "VALUES ('bench', 'Bench', '', false, $1, $1) RETURNING id",
            now,
        )
        await connection.copy_records_to_table(
            "users",
            records=[(f"s{i}@example.org", "student", f"N{i:06d}", now) for i in range(students)],
            columns=["email", "role", "student_number", "created_at"],
        )
        ids = [
            row["id"]
            for row in await connection.fetch(
                "SELECT id FROM users WHERE role = 'student' ORDER BY id"
            )
        ]
        await connection.copy_records_to_table(
            "course_members",
            records=[(course, teacher, "teacher", now)]
            + [(course, user_id, "student", now) for user_id in ids],
            columns=["course_id", "user_id", "role", "created_at"],
        )
        return course, ids
    finally:
        await connection.close()


def write_files(
    directory: Path, *, course: int, ids: list[int], assessments: int
) -> tuple[Path, Path, int]:
    """The grade file, and the same rows in the shape of ``grades`` for COPY."""
    upload = directory / "grades.csv"
    shaped = directory / "grades_copy.csv"
    now = datetime.datetime.now(datetime.UTC).isoformat()
    rows = 0
    with upload.open("w", newline="") as a, shaped.open("w", newline="") as b:
        file_rows, copy_rows = csv.writer(a), csv.writer(b)
        file_rows.writerow(["student", "assessment", "grade", "comment"])
        for number, user_id in enumerate(ids):
            for k in range(assessments):
                grade = (number * 7 + k * 13) % 101
                comment = "late" if (number + k) % 50 == 0 else ""
                file_rows.writerow([f"s{number}@example.org", f"quiz {k}", grade, comment])
                copy_rows.writerow(
                    [course, user_id, f"quiz {k}", grade, r"\N", comment, r"\N", now]
                )
                rows += 1
    return upload, shaped, rows


async def baseline_copy(dsn: str, shaped: Path) -> float:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE TABLE grades_copy (LIKE grades INCLUDING ALL)")
        started = time.perf_counter()
        with shaped.open("rb") as source:
            await connection.copy_to_table(
                "grades_copy",
                source=source,
                columns=[
                    "course_id",
                    "user_id",
                    "assessment",
                    "value",
                    "letter",
                    "comment",
                    "updated_by_id",
                    "updated_at",
                ],
                format="csv",
                null=r"\N",
            )
        return time.perf_counter() - started
    finally:
        await connection.close()


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gradeflow", *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


WORKER_PHASES = ("grade_upload.staged", "grade_upload.checked", "grade_upload.applied")


def worker_phases(log: Path) -> str:
    """The worker's own timing of its phases, from its JSON log (empty if it logs none)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") in WORKER_PHASES:
            timings = {k: v for k, v in entry.items() if k.endswith("ms")}
            found.append(f"{entry['event'].split('.')[1]} {timings}")
    return "; ".join(found)


def import_through_services(
    env: dict[str, str], workdir: Path, *, course: int, upload: Path
) -> tuple[float, dict[str, float], float, float, dict[str, object]]:
    port = 18000 + os.getpid() % 1000
    web = start(["web", "--port", str(port)], env, workdir / "web.log")
    worker = start(["worker", "--concurrency", "1"], env, workdir / "worker.log")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz", web, workdir / "web.log")
        time.sleep(3)  # the worker connects to RabbitMQ and starts its sandbox
        with httpx.Client(base_url=base, timeout=600) as client:
            login = client.post(
                "/api/auth/login", json={"email": "teacher@example.org", "password": PASSWORD}
            )
            login.raise_for_status()
            started = time.perf_counter()
            with upload.open("rb") as handle:
                response = client.post(
                    f"/api/courses/{course}/grade-uploads",
                    files={"file": ("grades.csv", handle, "text/csv")},
                )
            accepted = time.perf_counter() - started
            response.raise_for_status()
            upload_id = response.json()["id"]
            phases: dict[str, float] = {"uploaded (202)": accepted}
            body: dict[str, object] = {}
            while True:
                body = client.get(f"/api/grade-uploads/{upload_id}").json()
                phase = str(body["phase"])
                if phase not in phases:
                    phases[phase] = time.perf_counter() - started
                if body["status"] not in ("queued", "running"):
                    break
                time.sleep(0.05)
            seconds = time.perf_counter() - started
        body["worker_phases"] = worker_phases(workdir / "worker.log")
        return seconds, phases, peak_rss_mb(worker.pid), peak_rss_mb(web.pid), body
    finally:
        for process in (worker, web):
            process.terminate()
        for process in (worker, web):
            process.wait(timeout=60)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--assessments", type=int, default=100)
    options = parser.parse_args()
    name = f"gradeflow_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    try:
        await asyncio.to_thread(upgrade_database, url)  # it runs an event loop of its own
        course, ids = await create_world(dsn, options.students)
        with tempfile.TemporaryDirectory() as directory:
            workdir = Path(directory)
            upload, shaped, rows = write_files(
                workdir, course=course, ids=ids, assessments=options.assessments
            )
            size_mb = upload.stat().st_size / 1e6
            copy_s = await baseline_copy(dsn, shaped)
            env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
            env |= {
                "GRADEFLOW_DATA_DIR": str(workdir / "var"),
                "GRADEFLOW_DATABASE_URL": url,
                "GRADEFLOW_BROKER_URL": BROKER_URL,
                "GRADEFLOW_REDIS_URL": REDIS_URL,
                "GRADEFLOW_QUEUE_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
                "GRADEFLOW_SECRET_KEY": uuid.uuid4().hex,
                "GRADEFLOW_LOG_JSON": "true",
            }
            seconds, phases, worker_mb, web_mb, body = await asyncio.to_thread(
                import_through_services, env, workdir, course=course, upload=upload
            )
        print(
            f"\nGrade import, {rows:,} rows ({options.students:,} students x "
            f"{options.assessments} assessments, {size_mb:.1f} MB CSV)"
        )
        print(f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()}")
        print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n")
        print(f"{'':34} {'seconds':>8} {'rows/s':>10} {'ratio':>6}")
        print(
            f"{'COPY into a grades-shaped table':34} {copy_s:8.2f} {rows / copy_s:10,.0f} {1:6.2f}"
        )
        print(
            f"{'gradeflow upload → applied':34} {seconds:8.2f} {rows / seconds:10,.0f} "
            f"{seconds / copy_s:6.2f}"
        )
        print(
            f"\nstatus {body['status']}, {body['changes_total']:,} changes, "
            f"{body['errors_total']} errors"
        )
        print("phase reached after (s): " + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))
        print(f"peak RSS: worker {worker_mb:.0f} MB, web {web_mb:.0f} MB")
        if body["worker_phases"]:
            print(f"worker's phases: {body['worker_phases']}")
        print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
