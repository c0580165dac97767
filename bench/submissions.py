"""Benchmark: submissions accepted and graded end to end, stack and embedded mode.

Usage: ``PYTHONPATH=src .venv/bin/python bench/submissions.py [--duration S] [--students N]
[--mode stack|embedded|both] [--again N] [--accept-only]``.
Needs the local PostgreSQL, RabbitMQ and Redis (``make services``), nginx and ``wrk``.

Each student submits once (so a run shows at most ``students / duration`` accepted/s),
distinct code (the demo's first solution with a comment of their own, so nothing is
reused), every request from a different student: a class submitting at once. The
students are real accounts inserted in one statement, their session cookies signed
with the app's key (what ``POST /api/session`` hands out); before, every student has
asked ``/api/me`` once at each web process, as their open pages have, so each process
knows them (pipelined requests: ``stack_tools.ask_each_pipelined``), with the cache's
TTL (``GRADEFLOW_CACHE_TTL_S``) set to outlast the warm-up.

1. Baseline: the raw sandbox, graded ``ZygoteSandbox(slots=2)`` runs of the same
   assignment, 2 at a time, in this process (what grading itself costs).
2. Stack: ``gradeflow stack up --web 2 --workers 2`` on a database of its own. The
   workers are paused (SIGSTOP: graders on other hosts, as in production) while wrk
   posts submits through nginx for ``--duration`` seconds: accepted/s. Then the
   workers resume and drain the backlog: graded/s end to end.
3. Embedded: ``gradeflow serve`` (SQLite, in-process queue, its own grader slots
   grading while submits arrive): accepted/s, then graded/s until all are final.

Every ``--again``-th request is a second submit of a student whose first is pending
(a 409 by the one-pending rule). After each: every 202 is one row, no submission came
while its student had one pending, and (unless ``--accept-only``) every row ends
``passed`` with one attempt (nothing lost or doubled). Prints a table with the baseline.
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
from pathlib import Path

from sqlalchemy import func, insert, select, text
from stack_tools import (
    ask_each_pipelined,
    free_port_block,
    log,
    peak_rss_of_web_processes,
    run_wrk,
    running_stack,
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
# What a process knows of a student (who they are, from the warm-up) must outlast the
# warm-up of thousands of students on a loaded machine: at the default 60 s, a warm-up
# of 3,000 students per process at load 10 (~60 s each) left the first process's
# callers expired, and every submit loaded its caller again (PERFORMANCE.md).
CACHE_TTL_S = 600

# Each request is the next student of this thread's share, with code of their own.
WRK_SCRIPT = r"""
local cookies = {}
for line in io.lines(os.getenv("BENCH_COOKIES")) do cookies[#cookies + 1] = line end
local path = os.getenv("BENCH_PATH")
local solution = os.getenv("BENCH_SOLUTION")
local again = tonumber(os.getenv("BENCH_AGAIN"))
local threads = {}
-- globals: done() reads them with thread:get
sent, fresh, last, accepted, conflicts, refused = 0, 0, nil, 0, 0, 0

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function request()
  local student, note
  if again > 0 and last and sent % again == again - 1 then
    -- A second submit of this thread's previous student, pending still: a 409.
    student, note = last, " again"
  else
    student, note = fresh * 2 + index + 1, ""
    fresh = fresh + 1
    if student > #cookies then
      wrk.thread:stop()
      student = #cookies
    end
    last = student
  end
  sent = sent + 1
  local body = '{"code": "' .. solution .. '# student ' .. student .. note .. '\\n"}'
  return wrk.format("POST", path, {
    ["Cookie"] = "gradeflow_session=" .. cookies[student],
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  elseif status == 409 then
    conflicts = conflicts + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local ok, conflict, other = 0, 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("accepted")
    conflict = conflict + thread:get("conflicts")
    other = other + thread:get("refused")
  end
  io.write(string.format(
    "BENCH_JSON {\"accepted\": %d, \"conflicts\": %d, \"refused\": %d, " ..
    "\"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, \"errors\": %d}\n",
    ok, conflict, other, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def post_submits(
    url: str, *, cookies: Path, duration: int, again: int, work: Path
) -> dict[str, float]:
    script = work / "submit.lua"
    script.write_text(WRK_SCRIPT)
    env = {
        "BENCH_AGAIN": str(again),
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
    """Each student has been seen by each web process (``/api/me``, as any page asks),
    the processes warmed side by side."""
    headers = [f"Cookie: {SESSION_COOKIE}={line}" for line in cookies.read_text().split()]

    async def warm_all() -> None:
        await asyncio.gather(*(ask_each_pipelined(base, "/api/me", headers) for base in bases))

    started = time.perf_counter()
    asyncio.run(warm_all())
    elapsed = time.perf_counter() - started
    log(f"  warmed {len(headers)} students at {len(bases)} web process(es) in {elapsed:.1f} s")
    if elapsed > CACHE_TTL_S / 2:
        log(f"  warning: the warm-up took more than half the cache's {CACHE_TTL_S} s TTL")


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


# Rows, rows that passed in one attempt, and pairs of one student's submissions where
# the later one came while the earlier was pending (the one-pending rule: none).
CHECK_SQL = """
SELECT count(*),
       count(*) FILTER (WHERE status = 'passed' AND attempts = 1),
       (SELECT count(*) FROM submissions AS earlier JOIN submissions AS later
          ON later.user_id = earlier.user_id AND later.id > earlier.id
        WHERE earlier.finished_at IS NULL OR later.created_at < earlier.finished_at)
FROM submissions
"""


def check(rows: tuple[int, ...], answers: dict[str, float], where: str, *, graded: bool) -> None:
    """Every 202 is a row; so are the submits still in flight when wrk stopped (at most
    one a connection), which it did not count. No submission came while its
    student had one pending (the one-pending rule); once ``graded``, every row
    passed in one attempt (nothing lost or doubled)."""
    total, passed_once, overlapping = rows
    accepted = int(answers["accepted"])
    assert accepted <= total <= accepted + CONNECTIONS, (
        f"{where}: {accepted} accepted, {total} rows"
    )
    assert overlapping == 0, f"{where}: {overlapping} submissions made while one was pending"
    if graded:
        assert passed_once == total, f"{where}: {total - passed_once} not passed in one attempt"
    log(f"  checked: {total} rows for {accepted} accepted, none while one was pending"
        f"{', all passed once' if graded else ''}; {answers['conflicts']:.0f} second submits "
        "refused with 409")  # fmt: skip


def stack_run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    settings = {"GRADEFLOW_CACHE_TTL_S": str(CACHE_TTL_S)}
    with running_stack(work, ASSIGNMENT.parent, settings=settings) as stack:
        workers = worker_pids(stack.env["GRADEFLOW_QUEUE_PREFIX"])
        try:
            user_ids, assignment_id = asyncio.run(fill_students(stack.database_url, args.students))
            signer = SessionSigner(stack.env["GRADEFLOW_SECRET_KEY"])
            cookies = write_cookies(work, signer, user_ids)
            webs = (stack.first_web_port, stack.first_web_port + 1)
            warm([f"http://127.0.0.1:{port}" for port in webs], cookies)
            for pid in workers:
                os.kill(pid, signal.SIGSTOP)
            url = f"{stack.url}/api/assignments/{assignment_id}/submissions"
            log(f"wrk {args.duration} s, {CONNECTIONS} connections: POST submits through nginx")
            accepted = post_submits(
                url, cookies=cookies, duration=args.duration, again=args.again, work=work
            )
            memory = peak_rss_of_web_processes(stack.first_web_port)
            log(f"  {accepted['accepted']:.0f} accepted; workers resume")
        finally:
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
        rows = submitted_rows(stack.database_url)
        graded_rate = None
        if not args.accept_only:
            graded_rate = rows / wait_until_graded(stack.database_url, expected=rows)
        counts = asyncio.run(query_counts(stack.database_url, CHECK_SQL))
        check(counts, accepted, "stack", graded=not args.accept_only)
        return {"accepted": accepted, "graded_rate": graded_rate, "rss": memory}


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
        "GRADEFLOW_CACHE_TTL_S": str(CACHE_TTL_S),
    }
    gradeflow(["db", "upgrade"], env)
    gradeflow(["assignments", "import", str(ASSIGNMENT.parent)], env)
    database_url = f"sqlite+aiosqlite:///{data / 'gradeflow.sqlite3'}"
    user_ids, assignment_id = asyncio.run(fill_students(database_url, args.students))
    cookies = write_cookies(work, SessionSigner(secret_key), user_ids)
    output = work / "serve.log"
    server = subprocess.Popen([sys.executable, "-m", "gradeflow", "serve"], env=env,
                              stdout=output.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/readyz", timeout=60, process=server, output=output)
        warm([base], cookies)
        url = f"{base}/api/assignments/{assignment_id}/submissions"
        log(f"wrk {args.duration} s, {CONNECTIONS} connections: POST submits, embedded")
        started = time.perf_counter()
        accepted = post_submits(
            url, cookies=cookies, duration=args.duration, again=args.again, work=work
        )

        rows = submitted_rows(database_url)
        graded_rate = None
        if not args.accept_only:
            wait_until_graded(database_url, expected=rows)
            graded_rate = rows / (time.perf_counter() - started)
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak = [int(ln.split()[1]) // 1024 for ln in status.splitlines() if "VmHWM" in ln]
        counts = asyncio.run(query_counts(database_url, CHECK_SQL))
        check(counts, accepted, "embedded", graded=not args.accept_only)
        return {"accepted": accepted, "graded_rate": graded_rate, "rss": [f"serve {peak[0]} MB"]}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of submitting")
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--mode", choices=("stack", "embedded", "both"), default="both")
    parser.add_argument(
        "--again",
        type=int,
        default=10,
        help="every Nth request is a second submit of a student with one pending (0: none)",
    )
    parser.add_argument(
        "--accept-only",
        action="store_true",
        help="measure accepting only: do not wait for the backlog to be graded",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gradeflow-submit-bench-"))
    log(f"load average {os.getloadavg()[0]:.2f}; raw sandbox: 400 runs, 2 slots")
    raw = asyncio.run(raw_sandbox_rate(400))
    runs = []
    if args.mode in ("stack", "both"):
        runs.append(("stack", stack_run(args, work)))
    if args.mode in ("embedded", "both"):
        runs.append(("embedded", embedded_run(args, work)))
    print()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"
    )
    print(
        f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; wrk -t2 -c{CONNECTIONS} -d{args.duration}s"
    )
    # Each student submits once: a rate at this ceiling says only "at least".
    ceiling = args.students / args.duration
    print(f"{args.students} students: this run shows at most {ceiling:.0f} accepted/s")
    print()
    print(
        "| what | rate /s | p50 ms | p99 ms | 409 (second submits) | refused or failed | vs raw sandbox | peak RSS |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(f"| raw sandbox, 2 slots (baseline) | {raw:.0f} | | | | | 100% | |")
    for label, run in runs:
        a = run["accepted"]
        assert isinstance(a, dict)
        rss = ", ".join(run["rss"])  # type: ignore[arg-type]
        print(f"| {label}: submissions accepted | {a['rate']:.0f} | {a['p50_us'] / 1000:.1f} "
              f"| {a['p99_us'] / 1000:.1f} | {a['conflicts']:.0f} | {a['refused'] + a['errors']:.0f} "
              f"| | {rss} |")  # fmt: skip
        graded = run["graded_rate"]
        if isinstance(graded, float):
            print(f"| {label}: graded end to end | {graded:.0f} | | | | | {graded / raw:.0%} | |")


if __name__ == "__main__":
    main()
