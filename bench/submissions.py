"""Benchmark: submissions accepted and graded end to end, stack and embedded mode.

Usage: ``PYTHONPATH=src .venv/bin/python bench/submissions.py [--duration S] [--students N]``.
Needs the local PostgreSQL, RabbitMQ and Redis (``make services``), nginx and ``wrk``.

Each student submits once, distinct code (the demo's first solution with a comment
of their own, so nothing is reused), every request from a different student: a class
submitting at once. Before, every student has asked ``/api/me`` once at each web
process, as their open pages have, so each process knows them.

1. Baseline: the raw sandbox, graded ``ZygoteSandbox(slots=2)`` runs of the same
   assignment, 2 at a time, in this process (what grading itself costs).
2. Stack: ``gradeflow stack up --web 2 --workers 2`` on a database of its own. The
   workers are paused (SIGSTOP: graders on other hosts, as in production) while wrk
   posts submits through nginx for ``--duration`` seconds: accepted/s. Then the
   workers resume and drain the backlog: graded/s end to end.
3. Embedded: ``gradeflow serve`` (SQLite, in-process queue, its own grader slots
   grading while submits arrive): accepted/s, then graded/s until all are final.

After each: every 202 is one row, no student has two, every row ends ``passed``
with one attempt (nothing lost or doubled). Prints a table with the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select, text
from stack_tools import (
    admin,
    ask_each,
    clean_broker_and_cache,
    free_port_block,
    log,
    peak_rss_of_web_processes,
    run_wrk,
    stack_ports,
    stop_stack,
    wait_for,
)

from gradeflow.accounts.models import Role, User
from gradeflow.accounts.security import SESSION_COOKIE, SessionSigner
from gradeflow.courses.format import load_assignment
from gradeflow.courses.models import Assignment
from gradeflow.db import create_engine
from gradeflow.grading.sandbox import ZygoteSandbox
from gradeflow.grading.verdicts import grade_code

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = ROOT / "demo" / "python-basics" / "01-hello"
SOLUTION = (ASSIGNMENT / "solution.py").read_text()
CONNECTIONS = 64

# Each request is the next student of this thread's share, with code of their own.
WRK_SCRIPT = r"""
local cookies = {}
for line in io.lines(os.getenv("BENCH_COOKIES")) do cookies[#cookies + 1] = line end
local path = os.getenv("BENCH_PATH")
local solution = os.getenv("BENCH_SOLUTION")
local threads = {}
sent, accepted, refused = 0, 0, 0  -- globals: done() reads them with thread:get

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function request()
  local student = sent * 2 + index + 1
  sent = sent + 1
  if student > #cookies then
    wrk.thread:stop()
    student = #cookies
  end
  local body = '{"code": "' .. solution .. '# student ' .. student .. '\\n"}'
  return wrk.format("POST", path, {
    ["Cookie"] = "gradeflow_session=" .. cookies[student],
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 else refused = refused + 1 end
end

function done(summary, latency, requests)
  local ok, other = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("accepted")
    other = other + thread:get("refused")
  end
  io.write(string.format(
    "BENCH_JSON {\"accepted\": %d, \"refused\": %d, \"duration_us\": %d, " ..
    "\"p50_us\": %d, \"p99_us\": %d, \"errors\": %d}\n",
    ok, other, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def post_submits(url: str, *, cookies: Path, duration: int, work: Path) -> dict[str, float]:
    script = work / "submit.lua"
    script.write_text(WRK_SCRIPT)
    env = {
        "BENCH_COOKIES": str(cookies),
        "BENCH_PATH": "/" + url.split("/", 3)[3],
        "BENCH_SOLUTION": json.dumps(SOLUTION)[1:-1],
    }
    result = run_wrk(
        url, duration=duration, connections=CONNECTIONS, script=script, env=env, timeout_s=10
    )
    result["rate"] = result["accepted"] / (result["duration_us"] / 1e6)
    return result


async def raw_sandbox_rate(runs: int) -> float:
    assignment = load_assignment(ASSIGNMENT)
    sandbox = ZygoteSandbox(slots=2)
    await sandbox.start()
    try:
        await grade_code(sandbox, assignment=assignment, code=SOLUTION)
        started = time.perf_counter()
        results = await asyncio.gather(
            *(grade_code(sandbox, assignment=assignment, code=SOLUTION) for _ in range(runs))
        )
        elapsed = time.perf_counter() - started
    finally:
        await sandbox.close()
    assert all(r.outcome == "passed" for r in results)
    return runs / elapsed


def gradeflow(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "gradeflow", *args], env=env, check=True,
                   capture_output=True)  # fmt: skip


def write_cookies(work: Path, signer: SessionSigner, user_ids: list[int]) -> Path:
    path = work / "cookies.txt"
    path.write_text("\n".join(signer.dumps(u) for u in user_ids) + "\n")
    return path


def warm(bases: list[str], cookies: Path) -> None:
    """Each student has been seen by each web process (``/api/me``, as any page asks)."""
    credentials = {"BENCH_HEADER": "Cookie", "BENCH_PREFIX": f"{SESSION_COOKIE}="}
    lines = cookies.read_text().split()
    for base in bases:
        asyncio.run(ask_each(base + "/api/me", credentials, lines, rounds=1))


def submitted_rows(database_url: str) -> int:
    """How many submissions there are once those in flight when wrk stopped are answered."""
    time.sleep(1)
    return asyncio.run(query_counts(database_url, "SELECT count(*) FROM submissions"))[0]


def wait_until_graded(database_url: str, *, expected: int, timeout: float = 600) -> float:
    """Seconds until ``expected`` submissions are final."""
    started = time.perf_counter()
    while (final := asyncio.run(query_counts(database_url, FINAL_SQL))[0]) < expected:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"only {final} of {expected} graded within {timeout:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - started


CHECK_SQL = """
SELECT count(*), count(DISTINCT user_id),
       count(*) FILTER (WHERE status = 'passed' AND attempts = 1)
FROM submissions
"""


def check(rows: tuple[int, ...], accepted: int, where: str) -> None:
    """Every 202 is a row; so are the submits still in flight when wrk stopped (at most
    one a connection), which it did not count."""
    total, students, passed_once = rows
    assert accepted <= total <= accepted + CONNECTIONS, (
        f"{where}: {accepted} accepted, {total} rows"
    )
    assert students == total, f"{where}: a student has two submissions"
    assert passed_once == total, f"{where}: {total - passed_once} not passed in one attempt"
    log(f"  checked: {total} rows for {accepted} accepted, one per student, all passed once")


def stack_run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    name = f"gradeflow_bench_{uuid.uuid4().hex[:8]}"
    database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    secret_key = secrets.token_urlsafe(32)
    env = os.environ | {
        "GRADEFLOW_DATABASE_URL": database_url,
        "GRADEFLOW_QUEUE_PREFIX": name,
        "GRADEFLOW_DATA_DIR": str(work / "stack-var"),
        "GRADEFLOW_SECRET_KEY": secret_key,
        "GRADEFLOW_LOG_JSON": "true",
    }
    manager: subprocess.Popen[bytes] | None = None
    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        gradeflow(["db", "upgrade"], env)
        gradeflow(["assignments", "import", str(ASSIGNMENT.parent)], env)
        user_ids, assignment_id = asyncio.run(fill_students(database_url, args.students))
        cookies = write_cookies(work, SessionSigner(secret_key), user_ids)
        port, first_web = stack_ports()
        log(f"stack: nginx :{port}, web :{first_web}-{first_web + 1}, 2 workers (paused)")
        manager = subprocess.Popen(
            [sys.executable, "-m", "gradeflow", "stack", "up", "--web", "2", "--workers", "2",
             "--port", str(port), "--first-web-port", str(first_web)],
            env=env, stdout=(work / "stack.log").open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for(f"http://127.0.0.1:{port}/readyz", timeout=120)
        time.sleep(3)  # the workers' sandboxes finish starting
        warm([f"http://127.0.0.1:{p}" for p in (first_web, first_web + 1)], cookies)
        workers = worker_pids(name)
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        url = f"http://127.0.0.1:{port}/api/assignments/{assignment_id}/submissions"
        log(f"wrk {args.duration} s, {CONNECTIONS} connections: POST submits through nginx")
        accepted = post_submits(url, cookies=cookies, duration=args.duration, work=work)
        memory = peak_rss_of_web_processes(first_web)
        log(f"  {accepted['accepted']:.0f} accepted; workers resume")
        for pid in workers:
            os.kill(pid, signal.SIGCONT)

        rows = submitted_rows(database_url)
        drain = wait_until_graded(database_url, expected=rows)
        check(
            asyncio.run(query_counts(database_url, CHECK_SQL)), int(accepted["accepted"]), "stack"
        )
        return {"accepted": accepted, "graded_rate": rows / drain, "rss": memory}
    finally:
        if manager is not None:
            for pid in worker_pids(name):
                os.kill(pid, signal.SIGCONT)
            stop_stack(manager, env)
            asyncio.run(clean_broker_and_cache(name))
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def worker_pids(prefix: str) -> list[int]:
    """This stack's workers only: other people's stacks on the machine are not ours to pause."""
    found = subprocess.run(["pgrep", "-f", "gradeflow worker"], capture_output=True, text=True)
    ours = f"GRADEFLOW_QUEUE_PREFIX={prefix}".encode()
    pids = []
    for pid in found.stdout.split():
        try:
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if ours in environment:
            pids.append(int(pid))
    return pids


async def fill_students(database_url: str, students: int) -> tuple[list[int], int]:
    """``students`` accounts (set-based) and the id of the assignment they submit to."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            now = datetime.datetime.now(datetime.UTC)
            rows = [
                {"email": f"student{n}@bench.example", "role": Role.student, "created_at": now}
                for n in range(students)
            ]
            result = await connection.execute(insert(User).returning(User.id), rows)
            user_ids = [row[0] for row in result]
            assignment_id = await connection.scalar(select(func.min(Assignment.id)))
    finally:
        await engine.dispose()
    return user_ids, int(assignment_id or 0)


async def query_counts(database_url: str, sql: str) -> tuple[int, ...]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(text(sql))).one()
    finally:
        await engine.dispose()
    return tuple(int(value) for value in row)


FINAL_SQL = "SELECT count(*) FROM submissions WHERE status IN ('passed', 'failed', 'error')"


def embedded_run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    data = work / "embedded-var"
    port = free_port_block(18200, 1)
    secret_key = secrets.token_urlsafe(32)
    env = os.environ | {
        "GRADEFLOW_DATA_DIR": str(data),
        "GRADEFLOW_PORT": str(port),
        "GRADEFLOW_SECRET_KEY": secret_key,
        "GRADEFLOW_LOG_JSON": "true",
    }
    gradeflow(["db", "upgrade"], env)
    gradeflow(["assignments", "import", str(ASSIGNMENT.parent)], env)
    database_url = f"sqlite+aiosqlite:///{data / 'gradeflow.sqlite3'}"
    user_ids, assignment_id = asyncio.run(fill_students(database_url, args.students))
    cookies = write_cookies(work, SessionSigner(secret_key), user_ids)
    server = subprocess.Popen([sys.executable, "-m", "gradeflow", "serve"], env=env,
                              stdout=(work / "serve.log").open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/readyz", timeout=60)
        warm([base], cookies)
        url = f"{base}/api/assignments/{assignment_id}/submissions"
        log(f"wrk {args.duration} s, {CONNECTIONS} connections: POST submits, embedded")
        started = time.perf_counter()
        accepted = post_submits(url, cookies=cookies, duration=args.duration, work=work)

        rows = submitted_rows(database_url)
        wait_until_graded(database_url, expected=rows)
        graded_rate = rows / (time.perf_counter() - started)
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak = [int(ln.split()[1]) // 1024 for ln in status.splitlines() if "VmHWM" in ln]
        check(
            asyncio.run(query_counts(database_url, CHECK_SQL)),
            int(accepted["accepted"]),
            "embedded",
        )
        return {"accepted": accepted, "graded_rate": graded_rate, "rss": [f"serve {peak[0]} MB"]}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of submitting")
    parser.add_argument("--students", type=int, default=20_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gradeflow-submit-bench-"))
    log("raw sandbox: 400 runs, 2 slots")
    raw = asyncio.run(raw_sandbox_rate(400))
    stack = stack_run(args, work)
    embedded = embedded_run(args, work)
    print()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
    )
    print(
        f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; wrk -t2 -c{CONNECTIONS} -d{args.duration}s"
    )
    print()
    print("| what | rate /s | p50 ms | p99 ms | refused | vs raw sandbox | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    print(f"| raw sandbox, 2 slots (baseline) | {raw:.0f} | | | | 100% | |")
    for label, run in (("stack", stack), ("embedded", embedded)):
        a = run["accepted"]
        assert isinstance(a, dict)
        rss = ", ".join(run["rss"])  # type: ignore[arg-type]
        print(f"| {label}: submissions accepted | {a['rate']:.0f} | {a['p50_us'] / 1000:.1f} "
              f"| {a['p99_us'] / 1000:.1f} | {a['refused'] + a['errors']:.0f} | | {rss} |")  # fmt: skip
        graded = run["graded_rate"]
        assert isinstance(graded, float)
        print(f"| {label}: graded end to end | {graded:.0f} | | | | {graded / raw:.0%} | |")


if __name__ == "__main__":
    main()
