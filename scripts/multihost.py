#!/usr/bin/env python3
"""Services mode across hosts, on one machine: every process in a network namespace of its own.

``run`` builds a private network (one bridge in a namespace of its own, a veth to
each "host"), starts throwaway PostgreSQL, RabbitMQ and Redis bound only to the
services host's address, two ``gradeflow web`` hosts, two ``gradeflow worker`` hosts
and nginx on a proxy host, then runs ``multihost_proof.py`` on a client host and
tears it all down, also on failure, timeout, Ctrl-C or SIGTERM. Each gradeflow
process has its own data dir and no loopback interface; the blob store is
PostgreSQL large objects, named explicitly.

    sudo .venv/bin/python scripts/multihost.py run [--report FILE] [--keep]
    sudo .venv/bin/python scripts/multihost.py clean --run-id ID

Needs root, iproute2, nginx, redis-server, rabbitmq-server and PostgreSQL's
binaries. Nothing leaves the namespaces: the root namespace gets no address on the
private network, and the machine's own services on 127.0.0.1 are never touched.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multihost_hosts import (
    ADMIN_EMAIL,
    AMQP_PORT,
    GRADEFLOW_HOSTS,
    NS_PREFIX,
    PG_PORT,
    PROXY_PORT,
    REDIS_PORT,
    SUBNET,
    WEB_PORT,
    Failed,
    Run,
    address,
    clean,
    log,
    run_namespaces,
    tail,
)


@contextlib.contextmanager
def interruptible(seconds: float) -> Iterator[None]:
    """SIGTERM (e.g. from a test's timeout) unwinds like Ctrl-C, and so does running
    past ``seconds``: either way the caller's teardown runs."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def overdue(signum: int, frame: object) -> None:
        raise Failed(f"the run took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGTERM, stop), signal.signal(signal.SIGALRM, overdue)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGALRM, previous[1])


def run(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        log("needs root (network namespaces)")
        return 2
    run_id = args.run_id or uuid.uuid4().hex[:6]
    current = Run.create(run_id, python=args.python, timeout=args.timeout)
    directory, started_at = current.directory, current.started_at
    report: dict[str, Any] = {"run_id": run_id, "checks": [], "ok": False}
    log(f"run {run_id} in {directory}")
    try:
        with interruptible(args.timeout):
            report.update(exercise(current))
    except (Failed, subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        report["error"] = str(exc) or type(exc).__name__
        log(f"FAILED: {report['error']}")
        for started in current.processes:
            log(f"--- {started.name} (last lines)\n{tail(started.log_path)}")
    finally:
        if args.keep and not report.get("error"):
            log(f"kept: namespaces {NS_PREFIX}{run_id}-*, files in {directory}")
            log(f"stop with: {sys.executable} {__file__} clean --run-id {run_id}")
        else:
            current.stop_all()
            shutil.rmtree(directory, ignore_errors=True)
        report["seconds"] = round(time.monotonic() - started_at, 1)
        report["namespaces_left"] = run_namespaces(run_id)
        if args.report:
            Path(args.report).write_text(json.dumps(report, indent=2))
    failed = [check for check in report["checks"] if not check["ok"]]
    for check in failed:
        log(f"FAIL {check['name']}: {check['detail']}")
    passed = len(report["checks"]) - len(failed)
    if report.get("work_by_host"):
        log(f"work by host: {report['work_by_host']}")
    log(
        f"{'passed' if report['ok'] else 'failed'}: {passed} checks passed in {report['seconds']} s"
    )
    return 0 if report["ok"] and not failed else 1


def exercise(current: Run) -> dict[str, Any]:
    """Build everything, prove it from the client host, check what only the orchestrator sees."""
    current.build_network()
    log("network up; starting PostgreSQL, RabbitMQ and Redis on the services host")
    rabbitmq = current.start_rabbitmq()  # slowest to boot: first
    postgres = current.start_postgres()
    redis = current.start_redis()
    current.wait_listening(postgres, "services", PG_PORT, seconds=60)
    current.wait_listening(redis, "services", REDIS_PORT, seconds=30)
    current.wait_listening(rabbitmq, "services", AMQP_PORT, seconds=90)
    log(f"services up after {current.elapsed():.0f} s; starting two web and two worker hosts")
    gradeflow_processes = current.start_gradeflow()
    nginx = current.start_nginx()
    for process in gradeflow_processes[:2]:
        current.wait_listening(process, process.name, WEB_PORT, seconds=60)
    current.wait_listening(nginx, "proxy", PROXY_PORT, seconds=30)
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: object) -> None:
        checks.append({"name": name, "ok": bool(ok), "detail": detail})
        log(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    # Read from the kernel's tables, not probed: a packet from the root namespace to the
    # private subnet would leave through the machine's default route.
    root_view = current.sh("ip", "-o", "addr", "show") + current.sh("ip", "route", "show")
    check(
        "the root namespace has no address or route on the private network",
        f"{SUBNET}." not in root_view,
        f"no {SUBNET}.0/24 in `ip addr`/`ip route`",
    )
    # The services host's own loopback (epmd, Erlang distribution) is no one else's.
    sockets = current.sh(*current.in_ns("services", "ss", "-Hltn")).split()[3::5]
    listening = sorted({s for s in sockets if not s.startswith(("127.0.0.1:", "[::1]:"))})
    wanted = sorted(f"{address('services')}:{port}" for port in (PG_PORT, AMQP_PORT, REDIS_PORT))
    check(
        "PostgreSQL, RabbitMQ and Redis listen on the services host's address only",
        listening == wanted,
        listening,
    )
    loopbacks = {
        host: current.sh("ip", "-n", current.ns(host), "-o", "link", "show", "lo")
        for host in GRADEFLOW_HOSTS
    }
    check(
        "no gradeflow host has a loopback to lean on",
        all("state DOWN" in line for line in loopbacks.values()),
        "lo down on " + ", ".join(loopbacks),
    )

    log(f"all up after {current.elapsed():.0f} s; proving from the client host")
    seconds = max(10.0, current.deadline - time.monotonic() - 5)
    prove_args = {
        "proxy": f"http://{address('proxy')}:{PROXY_PORT}",
        "web1": f"http://{address('web1')}:{WEB_PORT}",
        "web2": f"http://{address('web2')}:{WEB_PORT}",
        "admin_email": ADMIN_EMAIL,
        "admin_password": current.secrets["admin"],
        "redis_url": current.urls()["GRADEFLOW_REDIS_URL"],
        "database_url": current.urls()["GRADEFLOW_DATABASE_URL"],
        "seconds": seconds,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
    env["MULTIHOST_ARGS"] = json.dumps(prove_args)
    done = subprocess.run(
        current.in_ns(
            "client", current.python, str(Path(__file__).with_name("multihost_proof.py"))
        ),
        stdout=subprocess.PIPE,  # the report; its progress goes straight to stderr
        text=True,
        timeout=seconds + 10,
        env=env,
        check=False,
    )
    try:
        proof = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise Failed(f"prove exited {done.returncode} without a report") from None
    checks.extend(proof["checks"])
    if proof.get("error"):
        check("proof ran to the end", False, proof["error"])

    # Who is connected to each service, as the services host's kernel sees it.
    established = current.sh(*current.in_ns("services", "ss", "-Htn", "state", "established"))
    peers: dict[str, set[str]] = {}
    for line in established.splitlines():
        local, peer = line.split()[2:4]
        peers.setdefault(local, set()).add(peer.rsplit(":", 1)[0])
    wanted_peers = {address(host) for host in GRADEFLOW_HOSTS}
    for name, port in (("PostgreSQL", PG_PORT), ("RabbitMQ", AMQP_PORT), ("Redis", REDIS_PORT)):
        connected = peers.get(f"{address('services')}:{port}", set())
        check(
            f"every web and worker host is connected to {name} over the private network",
            wanted_peers <= connected,
            sorted(connected),
        )
    for process in current.processes:
        check(f"{process.name} still running", process.popen.poll() is None, process.name)
    # Each host kept its own data dir, and no uploaded file landed in any of them.
    landed = [
        str(path.relative_to(current.directory))
        for host in GRADEFLOW_HOSTS
        for path in (current.directory / "hosts" / host / "var").rglob("*")
        if path.is_file() and "blobs" in path.parts
    ]
    check("no blob on any host's disk", landed == [], landed or "none")
    return {
        "checks": checks,
        "ok": all(c["ok"] for c in checks),
        "work_by_host": work_by_host(current),
    }


def work_by_host(current: Run) -> dict[str, dict[str, int]]:
    """What each worker host logged doing: which host takes a job is the broker's choice,
    so this is reported, not asserted."""
    counts: dict[str, dict[str, int]] = {}
    for host in ("worker1", "worker2"):
        tally = counts.setdefault(host, {})
        log_path = current.directory / "logs" / f"{host}.log"
        for line in log_path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line).get("event")
            except (json.JSONDecodeError, AttributeError):
                continue
            if event in ("submission.graded", "assignment.checked", "grade_upload.finished"):
                tally[event] = tally.get(event, 0) + 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="build, prove, tear down")
    run_parser.add_argument("--run-id", help="names the namespaces gfmh-ID-*; default random")
    run_parser.add_argument("--report", help="write the checks as JSON to this file")
    run_parser.add_argument("--keep", action="store_true", help="leave it running if it passed")
    run_parser.add_argument("--timeout", type=float, default=240, help="seconds for it all")
    run_parser.add_argument("--python", default=sys.executable, help="interpreter with gradeflow")
    clean_parser = commands.add_parser("clean", help="remove what a run left behind")
    clean_parser.add_argument("--run-id", required=True)
    args = parser.parse_args()
    if args.command == "run":
        return run(args)
    removed = clean(args.run_id)
    log(f"removed {removed or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
