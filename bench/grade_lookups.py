"""Benchmark: ``GET /api/me/grades`` through the services-mode stack, next to ``/healthz``.

Usage: ``.venv/bin/python bench/grade_lookups.py [--duration S] [--connections N]
[--reads-only] [--warm-rounds R]`` (``--reads-only``: only ``/healthz`` and the
repeating students' cached reads; on a loaded machine whose warm-up outlasts the
cache's TTL, set ``GRADEFLOW_CACHE_TTL_S`` higher for the run).
Needs the local PostgreSQL, RabbitMQ and Redis (``make services``), nginx and ``wrk``.

1. Creates a PostgreSQL database of its own (``gradeflow_bench_<random>``, dropped at
   the end), migrates it, and fills it at the scale of the grade-file seed with
   set-based SQL: 10,000 students, 140 teachers, 200 courses, five years (ten
   semesters) in which each student takes one course per semester (~50 students per
   course and semester, 500 per course over the years), four imported assessments
   per enrolment with their history rows, five assignments per course and about
   450,000 graded submissions.
2. Starts ``gradeflow stack up --web 2 --workers 2`` against it (nginx on
   127.0.0.1:8080 when that port is free, else a free one), with its own queue and
   cache prefix and data directory.
3. Runs ``wrk`` on loopback: ``/healthz``; ``/api/me/grades`` with session cookies
   rotating over all 10,000 students (the way their browsers ask; most requests are
   a student's first look, so mostly not cached); then rotating over 1,000 students
   whose looks repeat within the cache's TTL (a class checking a grade release),
   by cookie and by API token; ``/api/me``, ``/api/assignments`` and
   ``/api/submissions`` and ``/api/practice`` (the practice page's state) the same
   way (the other cached personal reads), the practice page ``/`` (its shell, which
   nginx serves from disk), a static file that nginx serves from disk (the page's
   baseline), and ``/healthz`` once more.
   It checks that the answers are each student's own before measuring.
4. Prints a table (req/s, p50/p99 latency, ratio to ``/healthz``) and the headroom
   over the seed's estimate of 7,500 daily active students, stops the stack and
   drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from stack_tools import (
    admin,
    ask_each,
    clean_broker_and_cache,
    log,
    peak_rss_of_web_processes,
    run_wrk,
    stack_ports,
    stop_stack,
    wait_for,
)

from gradeflow.accounts.security import SESSION_COOKIE, SessionSigner
from gradeflow.migrate import upgrade_database

STUDENTS, TEACHERS, COURSES, SEMESTERS = 10_000, 140, 200, 10
ASSIGNMENTS_PER_COURSE = 5
ASSESSMENTS = ("quiz", "midterm", "project", "final")
# Each student's course in semester k is (student + STEP * k) mod COURSES: ten
# different courses per student, 50 students per course and semester.
STEP = 17
SEED_DAILY_STUDENTS = 7_500
# Students whose lookups repeat within the cache's TTL (a class checking a release).
HOT_STUDENTS = 1_000

WRK_SCRIPT = r"""
local credentials = {}
local header_name = os.getenv("BENCH_HEADER")
local header_prefix = os.getenv("BENCH_PREFIX") or ""
local file = os.getenv("BENCH_CREDENTIALS")
if file and file ~= "" then
  for line in io.lines(file) do credentials[#credentials + 1] = line end
end
local threads = {}
local counter = 0

function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end

function init(args)
  counter = offset or 0
end

function request()
  counter = counter + 1
  if #credentials == 0 then
    return wrk.format("GET", wrk.path)
  end
  local credential = credentials[(counter % #credentials) + 1]
  return wrk.format("GET", wrk.path, {[header_name] = header_prefix .. credential})
end

function done(summary, latency, requests)
  io.write(string.format(
    "BENCH_JSON {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, " ..
    "\"non_2xx\": %d, \"connect\": %d, \"read\": %d, \"write\": %d, \"timeout\": %d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end
"""


def generation_sql() -> list[tuple[str, str]]:
    """(what, statement) pairs that fill a freshly migrated database."""
    student_ids = f"generate_series({TEACHERS + 1}, {TEACHERS + STUDENTS})"
    # course of student u (1-based id) in semester k
    course_of = f"1 + ((u - {TEACHERS + 1} + {STEP} * k) % {COURSES})"
    semester = "(2021 + k / 2)::text || CASE WHEN k % 2 = 0 THEN ' spring' ELSE ' fall' END"
    teacher_of = f"1 + ((c - 1) % {TEACHERS})"
    return [
        (
            "users",
            f"""INSERT INTO users (id, email, role, name, student_number, created_at)
            SELECT u, 'teacher-' || u || '@bench.example', 'teacher', 'Teacher ' || u, NULL, now()
              FROM generate_series(1, {TEACHERS}) u
            UNION ALL
            SELECT u, 'student-' || u || '@bench.example', 'student', 'Student ' || u,
                   'S' || lpad(u::text, 6, '0'), now()
              FROM {student_ids} u""",
        ),
        (
            "courses",
            f"""INSERT INTO courses (id, slug, title, description, public, created_at, updated_at)
            SELECT c, 'course-' || lpad(c::text, 3, '0'), 'Course ' || lpad(c::text, 3, '0'),
                   '', false, now(), now()
              FROM generate_series(1, {COURSES}) c""",
        ),
        (
            "course_members",
            f"""INSERT INTO course_members (course_id, user_id, role, created_at)
            SELECT c, {teacher_of}, 'teacher', now() FROM generate_series(1, {COURSES}) c
            UNION ALL
            SELECT {course_of}, u, 'student', now()
              FROM {student_ids} u, generate_series(0, {SEMESTERS - 1}) k""",
        ),
        (
            "assignments",
            f"""INSERT INTO assignments (id, course_id, slug, title, "order", points, scoring,
                   module, time_limit_s, memory_mb, handout_md, starter, tests, solution,
                   support_files, test_ids, revision, created_at, updated_at)
            SELECT (c - 1) * {ASSIGNMENTS_PER_COURSE} + n, c, 'exercise-' || n, 'Exercise ' || n,
                   n, 10 * n, 'all-or-nothing', 'solution', 10, 256, '# Exercise', '',
                   'import unittest', 'pass', '{{}}', '[]', 'r1', now(), now()
              FROM generate_series(1, {COURSES}) c,
                   generate_series(1, {ASSIGNMENTS_PER_COURSE}) n""",
        ),
        (
            "submissions",
            f"""INSERT INTO submissions (user_id, assignment_id, code, code_hash,
                   assignment_revision, status, score, attempts, generation, regrading,
                   created_at, queued_at, finished_at)
            SELECT u, a, 'def f(): pass', md5(u::text || '-' || a || '-' || attempt), 'r1',
                   CASE WHEN r < 0.5 THEN 'passed' ELSE 'failed' END,
                   CASE WHEN r < 0.5 THEN 10.0 * n ELSE round((10 * n * r)::numeric, 2) END,
                   1, 0, false, now(), now(), now()
              FROM (
                SELECT u, ({course_of} - 1) * {ASSIGNMENTS_PER_COURSE} + n AS a, n, attempt,
                       random() AS r, random() AS p
                  FROM {student_ids} u, generate_series(0, {SEMESTERS - 1}) k,
                       generate_series(1, {ASSIGNMENTS_PER_COURSE}) n,
                       generate_series(1, 2) attempt
              ) tried
             WHERE p < CASE WHEN attempt = 1 THEN 0.7 ELSE 0.2 END""",
        ),
        (
            "grades",
            f"""INSERT INTO grades (course_id, user_id, assessment, value, letter, comment,
                   updated_by_id, updated_at)
            SELECT c, u, {semester} || ' ' || a, round((40 + 60 * random())::numeric, 1),
                   NULL, CASE WHEN random() < 0.1 THEN 'see me' ELSE '' END, {teacher_of},
                   now() - (10 - k) * interval '180 days'
              FROM (SELECT u, k, {course_of} AS c
                      FROM {student_ids} u, generate_series(0, {SEMESTERS - 1}) k) enrolled,
                   unnest(ARRAY{list(ASSESSMENTS)}) a""",
        ),
        (
            "grade_changes",
            """INSERT INTO grade_changes (course_id, user_id, assessment, old_value, new_value,
                   new_comment, changed_by_id, changed_at, upload_id, reason)
            SELECT course_id, user_id, assessment, NULL, value, comment, updated_by_id,
                   updated_at, 1 + id % 1000, 'upload'
              FROM grades""",
        ),
        (
            "sequences",
            """SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));
            SELECT setval(pg_get_serial_sequence('courses', 'id'), (SELECT max(id) FROM courses));
            SELECT setval(pg_get_serial_sequence('assignments', 'id'),
                          (SELECT max(id) FROM assignments))""",
        ),
    ]


async def fill_database(dsn: str, tokens: list[tuple[int, str]]) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    counts: dict[str, int] = {}
    try:
        for what, statement in generation_sql():
            started = time.perf_counter()
            await connection.execute(statement)
            log(f"  {what}: {time.perf_counter() - started:.1f} s")
        # Tokens used just now, so no request has to write last_used_at: the steady
        # state of a token in use, not its first call in five minutes.
        started = time.perf_counter()
        await connection.copy_records_to_table(
            "api_tokens",
            records=[
                (
                    user_id,
                    "bench",
                    hashlib.sha256(secret.encode()).hexdigest(),
                    secret[:10],
                    datetime.datetime.now(datetime.UTC),
                    datetime.datetime.now(datetime.UTC),
                )
                for user_id, secret in tokens
            ],
            columns=["user_id", "name", "token_hash", "prefix", "created_at", "last_used_at"],
        )
        log(f"  api_tokens (COPY): {time.perf_counter() - started:.1f} s")
        await connection.execute("ANALYZE")
        for table in ("users", "course_members", "assignments", "submissions", "grades",
                      "grade_changes", "api_tokens"):  # fmt: skip
            counts[table] = await connection.fetchval(f"SELECT count(*) FROM {table}")
    finally:
        await connection.close()
    return counts


def check_answers(base: str, tokens: list[tuple[int, str]], cookies: list[tuple[int, str]]) -> None:
    """A few students, each by cookie and by token, see exactly their ten courses."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for (user_id, secret), (_, cookie) in zip(tokens[:5], cookies[:5], strict=True):
            by_token = client.get("/api/me/grades", headers={"Authorization": f"Bearer {secret}"})
            by_cookie = client.get(
                "/api/me/grades", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}
            )
            assert by_token.status_code == by_cookie.status_code == 200, by_token.text
            assert by_token.json() == by_cookie.json()
            courses = by_token.json()["courses"]
            assert len(courses) == SEMESTERS, (user_id, len(courses))
            assert all(len(c["grades"]) == len(ASSESSMENTS) for c in courses)
            assert all(len(c["assignments"]) == ASSIGNMENTS_PER_COURSE for c in courses)
            state = client.get("/api/practice", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
            assert state.status_code == 200, state.text
            assert state.json()["user"]["id"] == user_id
        log(
            f"  checked: each student sees their {SEMESTERS} courses; response {len(by_token.content)} bytes"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--reads-only",
        action="store_true",
        help="only /healthz and the cached personal reads of the repeating students",
    )
    parser.add_argument(
        "--warm-rounds",
        type=int,
        default=2,
        help="times each web process is asked each repeating student's answer before a run",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    name = f"gradeflow_bench_{uuid.uuid4().hex[:8]}"
    prefix = name
    dsn = f"postgresql://postgres@127.0.0.1:5432/{name}"
    work = Path(tempfile.mkdtemp(prefix="gradeflow-bench-"))
    secret_key = secrets.token_urlsafe(32)
    signer = SessionSigner(secret_key)
    student_ids = list(range(TEACHERS + 1, TEACHERS + STUDENTS + 1))
    tokens = [(u, "gf_" + secrets.token_urlsafe(32)) for u in student_ids]
    cookies = [(u, signer.dumps(u)) for u in student_ids]
    (work / "tokens.txt").write_text("\n".join(secret for _, secret in tokens) + "\n")
    (work / "cookies.txt").write_text("\n".join(c for _, c in cookies) + "\n")
    hot_tokens = "\n".join(secret for _, secret in tokens[:HOT_STUDENTS])
    (work / "tokens-hot.txt").write_text(hot_tokens + "\n")
    (work / "cookies-hot.txt").write_text("\n".join(c for _, c in cookies[:HOT_STUDENTS]) + "\n")
    script = work / "rotate.lua"
    script.write_text(WRK_SCRIPT)
    manager: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = {}
    try:
        log(f"database {name}: create and migrate")
        asyncio.run(admin(f"CREATE DATABASE {name}"))
        upgrade_database(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
        started = time.perf_counter()
        counts = asyncio.run(fill_database(dsn, tokens))
        log(f"  generated in {time.perf_counter() - started:.1f} s: {counts}")

        port, first_web = stack_ports()
        env = os.environ | {
            "GRADEFLOW_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
            "GRADEFLOW_QUEUE_PREFIX": prefix,
            "GRADEFLOW_DATA_DIR": str(work / "var"),
            "GRADEFLOW_SECRET_KEY": secret_key,
            "GRADEFLOW_LOG_JSON": "true",
        }
        log(f"stack: nginx 127.0.0.1:{port}, web 127.0.0.1:{first_web}-{first_web + 1}, 2 workers")
        output = work / "stack.log"
        manager = subprocess.Popen(
            [sys.executable, "-m", "gradeflow", "stack", "up", "--web", "2", "--workers", "2",
             "--port", str(port), "--first-web-port", str(first_web)],
            env=env, stdout=output.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/readyz", timeout=120, process=manager, output=output)
        time.sleep(3)  # the workers' sandboxes finish starting
        check_answers(base, tokens, cookies)

        def credentials(kind: str, which: str) -> dict[str, str]:
            header, prefix = ("Cookie", f"{SESSION_COOKIE}=") if kind == "cookies" else (
                "Authorization", "Bearer ")  # fmt: skip
            return {
                "BENCH_CREDENTIALS": str(work / f"{kind}{which}.txt"),
                "BENCH_HEADER": header,
                "BENCH_PREFIX": prefix,
            }

        hot = f"{HOT_STUDENTS:,} students again and again"
        runs = [
            ("GET /healthz", "/healthz", {}),
            (
                f"GET /api/me/grades (session cookies, {STUDENTS:,} students: mostly first looks)",
                "/api/me/grades",
                credentials("cookies", ""),
            ),
            (f"GET /api/me/grades (session cookies, {hot})", "/api/me/grades",
             credentials("cookies", "-hot")),
            (f"GET /api/me/grades (API tokens, {hot})", "/api/me/grades",
             credentials("tokens", "-hot")),
            (f"GET /api/me (session cookies, {hot})", "/api/me", credentials("cookies", "-hot")),
            (f"GET /api/assignments (session cookies, {hot})", "/api/assignments",
             credentials("cookies", "-hot")),
            (f"GET /api/submissions (session cookies, {hot})", "/api/submissions",
             credentials("cookies", "-hot")),
            (f"GET /api/practice (the practice page's state, session cookies, {hot})",
             "/api/practice", credentials("cookies", "-hot")),
            (f"GET / (the practice page's shell, session cookies, {hot})", "/",
             credentials("cookies", "-hot")),
            ("GET /static/app.css (nginx, from disk)", "/static/app.css", {}),
            ("GET /healthz (again)", "/healthz", {}),
        ]  # fmt: skip
        if args.reads_only:
            cached_reads = ("/healthz", "/api/me/grades", "/api/me", "/api/assignments",
                            "/api/submissions", "/api/practice")  # fmt: skip
            runs = [
                run for run in runs
                if run[1] in cached_reads and "API tokens" not in run[0]
                and "first looks" not in run[0]
            ]  # fmt: skip
        # Each run right after its own warm-up (3 s of the same load; for repeating
        # students, each of their answers asked of each web process first), so what one
        # run puts in the caches does not decide what the next finds there.
        results = []
        for label, path, extra in runs:
            if "-hot" in extra.get("BENCH_CREDENTIALS", ""):
                lines = Path(extra["BENCH_CREDENTIALS"]).read_text().split()
                # At each web process itself: through nginx, a student's answers could
                # all land on one of them and be a miss at the other during the run.
                for web in (first_web, first_web + 1):
                    url = f"http://127.0.0.1:{web}{path}"
                    asyncio.run(ask_each(url, extra, lines, rounds=args.warm_rounds))
            run_wrk(base + path, duration=3, connections=args.connections, script=script, env=extra)
            log(f"wrk {args.duration} s, {args.connections} connections: {label}")
            results.append((label, run_wrk(base + path, duration=args.duration,
                                           connections=args.connections, script=script, env=extra)))  # fmt: skip
        web_memory = peak_rss_of_web_processes(first_web)
    finally:
        if manager is not None:
            log("stopping the stack")
            stop_stack(manager, env)
            asyncio.run(clean_broker_and_cache(prefix))
        log(f"dropping {name}")
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        shutil.rmtree(work, ignore_errors=True)

    healthz = (results[0][1]["rps"] + results[-1][1]["rps"]) / 2
    print()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
    )
    print(
        f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; wrk -t2 -c{args.connections} -d{args.duration}s"
    )
    print()
    print("| request | req/s | p50 ms | p99 ms | vs /healthz | errors |")
    print("|---|---|---|---|---|---|")
    for label, r in results:
        errors = int(r["non_2xx"] + r["connect"] + r["read"] + r["write"] + r["timeout"])
        print(
            f"| {label} | {r['rps']:.0f} | {r['p50_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} "
            f"| {r['rps'] / healthz:.0%} | {errors} |"
        )
    print()
    print(f"/healthz averaged over both runs: {healthz:.0f} req/s; load average "
          f"{os.getloadavg()[0]:.2f} at the end")  # fmt: skip
    print(f"peak RSS: {', '.join(web_memory) or 'not found'}")
    if args.reads_only:
        return
    by_label = {label.split(" (")[0]: r for label, r in results}
    page, static = by_label["GET /"]["rps"], by_label["GET /static/app.css"]["rps"]
    grades = results[1][1]["rps"]  # the uncached case: the headroom it leaves
    busiest_hour = SEED_DAILY_STUDENTS * 10 / 3600
    print(
        f"practice page's shell vs the static file: {page:.0f} / {static:.0f} = {page / static:.0%}"
    )
    print(
        f"seed, literally (7,500 queries per second): {grades:.0f} / 7,500 = {grades / 7500:.2f}x"
    )
    print(
        f"seed, as daily active students (7,500 a day, 10 lookups each in one busiest hour "
        f"= {busiest_hour:.1f} req/s): {grades / busiest_hour:.0f}x headroom"
    )


if __name__ == "__main__":
    main()
