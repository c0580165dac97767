#!/usr/bin/env python3
"""Faults under load: kill, restart and stall gradeflow's processes and services while
students and a teacher use it, then prove nothing was lost, doubled or half-applied.

The hosts are those of ``scripts/multihost.py`` (network namespaces of this run, with
throwaway PostgreSQL, RabbitMQ and Redis on a services host): the machine's own
services on 127.0.0.1 are never restarted. The load and the invariant checker run
on the client host (``bench/chaos_load.py``); this process only starts, kills and
restarts, as a process manager would, and logs when each fault began and ended.

    sudo .venv/bin/python bench/chaos.py [--duration 180] [--report FILE]

Needs root and what ``make multihost`` needs. Exit 0 iff there were no violations.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from multihost import interruptible
from multihost_hosts import (
    ADMIN_EMAIL,
    AMQP_PORT,
    HOSTS,
    PG_PORT,
    PROXY_PORT,
    REDIS_PORT,
    WEB_PORT,
    Failed,
    Run,
    Started,
    address,
    run_namespaces,
    tail,
)

LOAD = Path(__file__).with_name("chaos_load.py")
TIME_LIMIT_S = 5  # the assignment's (chaos_load.TESTS)
LEASE_MARGIN_S = 4
# Past the lease (time limit + margin), so the sweeper hands the job to another worker.
STALL_S = TIME_LIMIT_S + LEASE_MARGIN_S + 6
FAULTS = ("kill_worker", "kill_web", "restart_postgres", "restart_rabbitmq", "restart_redis",
          "stall_worker", "worker_dead_while_postgres_restarts",
          "web_dead_while_rabbitmq_restarts", "started_while_postgres_down",
          "started_while_rabbitmq_down", "started_while_redis_down")  # fmt: skip
# How long a web process and a worker (re)started while a service is down run without
# it, proving they wait instead of exiting, before the service comes back.
WITHOUT_SERVICE_S = 4
# The check of a web process's /readyz that names each service.
READINESS_CHECK = {"postgres": "database", "rabbitmq": "queue", "redis": "cache"}


def log(message: str) -> None:
    print(f"chaos: {message}", file=sys.stderr, flush=True)


class ChaosRun(Run):
    def gradeflow_env(self, host: str) -> dict[str, str]:
        env = super().gradeflow_env(host)
        env["GRADEFLOW_LEASE_MARGIN_S"] = str(LEASE_MARGIN_S)
        return env


class Faults:
    """The faults, each bounded in time, each logged as a window {kind, start, end}."""

    def __init__(
        self, current: ChaosRun, by_name: dict[str, Started], journal: Path, seed: int
    ) -> None:
        self.current = current
        self.by_name = by_name
        self.journal = journal
        self.random = random.Random(seed)
        self.counts = {"kills": 0, "restarts": 0, "stalls": 0, "overlaps": 0}
        self.done: list[str] = []
        # Processes that exited by themselves (a process manager would have restarted
        # them: crash-looping is what must not happen).
        self.violations: list[str] = []

    def window(self, kind: str, target: str, act: Callable[[], None]) -> None:
        start = time.time()
        log(f"fault: {kind} {target}")
        try:
            act()
        finally:
            self.record(kind, target, start)

    def record(self, kind: str, target: str, start: float) -> None:
        entry = {"kind": kind, "target": target, "start": start, "end": time.time()}
        with self.journal.open("a") as out:
            out.write(json.dumps(entry) + "\n")
        self.done.append(f"{kind}:{target}")

    def replace(self, name: str, start: Callable[[], Started]) -> Started:
        old = self.by_name[name]
        old.log.close()
        self.current.processes.remove(old)
        self.by_name[name] = start()
        return self.by_name[name]

    def stop(self, name: str, signum: int, seconds: float) -> None:
        popen = self.by_name[name].popen
        popen.send_signal(signum)
        try:
            popen.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            log(f"{name} still up {seconds:g} s after signal {signum}; SIGKILL")
            popen.kill()
            popen.wait(timeout=30)

    def wait_down(self, host: str, port: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.current.tcp_reachable("client", host, port):
            if time.monotonic() > deadline:
                raise Failed(f"{host}:{port} still answers {seconds:g} s after its stop")
            time.sleep(0.5)

    def kill_worker(self) -> None:
        host = self.random.choice(["worker1", "worker2"])

        def act() -> None:
            self.stop(host, signal.SIGKILL, 10)
            self.counts["kills"] += 1
            time.sleep(1 + self.random.random())
            self.replace(host, lambda: self.current.start_worker(host))
            self.counts["restarts"] += 1

        self.window("worker", host, act)

    def kill_web(self) -> None:
        host = self.random.choice(["web1", "web2"])

        def act() -> None:
            self.stop(host, signal.SIGKILL, 10)
            self.counts["kills"] += 1
            time.sleep(1 + self.random.random())
            started = self.replace(host, lambda: self.current.start_web(host))
            self.counts["restarts"] += 1
            self.current.wait_listening(started, host, WEB_PORT, seconds=90)

        self.window("web", host, act)

    def restart_service(
        self,
        name: str,
        port: int,
        signum: int,
        start: Callable[[], Started],
        while_down: Callable[[], None] | None = None,
    ) -> None:
        """Stop the service ``name``, and start it again; ``while_down`` runs meanwhile."""

        def act() -> None:
            self.stop(name, signum, 60)
            self.wait_down("services", port, 30)
            if while_down is None:
                time.sleep(1 + self.random.random())
            else:
                while_down()
            started = self.replace(name, start)
            self.counts["restarts"] += 1
            self.current.wait_listening(started, "services", port, seconds=120)

        self.window(name, "services", act)

    def service_args(self, service: str) -> tuple[int, int, Callable[[], Started]]:
        """Port, stop signal and start of a service (see the restart_* faults)."""
        return {
            "postgres": (PG_PORT, signal.SIGINT, self.current.start_postgres),
            "rabbitmq": (AMQP_PORT, signal.SIGTERM, self.current.start_rabbitmq),
            "redis": (REDIS_PORT, signal.SIGKILL, self.current.start_redis),
        }[service]

    def started_while_down(self, service: str) -> None:
        """While ``service`` is down: a web process and a worker killed -9 and started
        again. Each must come up without it (the web process listening, answering the
        documented 503 where it needs the service), keep running, and work once the
        service is back. A process that exits is a violation, restarted here so the
        run goes on as under a process manager."""
        web = self.random.choice(["web1", "web2"])
        worker = self.random.choice(["worker1", "worker2"])
        start = time.time()
        check = READINESS_CHECK[service]
        log(f"fault: {web} and {worker} started while {service} is down")
        worker_log_from = 0

        def while_down() -> None:
            nonlocal worker_log_from
            for host in (web, worker):
                self.stop(host, signal.SIGKILL, 10)
                self.counts["kills"] += 1
            worker_log_from = self.by_name[worker].log_path.stat().st_size
            self.replace(worker, lambda: self.current.start_worker(worker))
            started = self.replace(web, lambda: self.current.start_web(web))
            self.counts["restarts"] += 2
            try:
                self.current.wait_listening(started, web, WEB_PORT, seconds=90)
            except Failed as exc:
                self.violations.append(f"{web} started while {service} was down: {exc}")
            time.sleep(WITHOUT_SERVICE_S)
            self.check_running((web, worker), f"while {service} was down")
            status, body = self.readiness(web)
            if status != 503 or f'"{check}":"unreachable"' not in body.replace(" ", ""):
                self.violations.append(
                    f"{web}'s /readyz while {service} was down: {status} {body[:200]}"
                )

        try:
            self.restart_service(service, *self.service_args(service), while_down=while_down)
            # Both run on once it is back: they did not give up meanwhile, and the web
            # process is ready again by itself (no restart), within a minute.
            self.check_running((web, worker), f"after {service} came back")
            deadline = time.monotonic() + 60
            while (ready := self.readiness(web))[0] != 200 and time.monotonic() < deadline:
                time.sleep(1)
            if ready[0] != 200:
                self.violations.append(
                    f"{web} not ready 60 s after {service} came back: {ready[0]} {ready[1][:200]}"
                )
            if service == "rabbitmq":
                self.wait_logged(worker, worker_log_from, "queue.connected", seconds=60)
            self.check_running((web, worker), f"after {service} came back")
        finally:
            self.record("web", web, start)
            self.record("worker", worker, start)
        self.done.append(f"started_while_down:{service}")

    def readiness(self, host: str) -> tuple[int | None, str]:
        """``GET /readyz`` of one web process, from the client host: status and body."""
        request = (
            f"exec 3<>/dev/tcp/{address(host)}/{WEB_PORT} && "
            "printf 'GET /readyz HTTP/1.0\\r\\nHost: chaos\\r\\n\\r\\n' >&3 && cat <&3"
        )
        done = subprocess.run(
            self.current.in_ns("client", "timeout", "10", "bash", "-c", request),
            capture_output=True,
            timeout=20,
            check=False,
        )
        # Bytes: text mode would turn the header's CRLFs into newlines.
        head, _, body = done.stdout.partition(b"\r\n\r\n")
        try:
            return int(head.split()[1]), body.decode(errors="replace")
        except (IndexError, ValueError):
            return None, (done.stdout + done.stderr).decode(errors="replace")

    def wait_logged(self, host: str, offset: int, event: str, seconds: float) -> None:
        """A worker has no HTTP endpoint: that it reconnected is read from its log."""
        path = self.by_name[host].log_path
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with path.open("rb") as handle:
                handle.seek(offset)
                if event.encode() in handle.read():
                    return
            time.sleep(1)
        self.violations.append(
            f"{host} logged no {event} {seconds:g} s after its service came back"
        )

    def check_running(self, hosts: tuple[str, ...], when: str) -> None:
        for host in hosts:
            code = self.by_name[host].popen.poll()
            if code is None:
                continue
            self.violations.append(f"{host} exited with {code} {when}")
            log(f"{host} exited with {code} {when}:\n{tail(self.by_name[host].log_path)}")
            start = self.current.start_web if host.startswith("web") else self.current.start_worker
            started = self.replace(host, functools.partial(start, host))
            if host.startswith("web"):
                self.current.wait_listening(started, host, WEB_PORT, seconds=90)

    def started_while_postgres_down(self) -> None:
        self.started_while_down("postgres")

    def started_while_rabbitmq_down(self) -> None:
        self.started_while_down("rabbitmq")

    def started_while_redis_down(self) -> None:
        self.started_while_down("redis")

    def restart_postgres(self) -> None:
        # SIGINT: PostgreSQL's fast shutdown (every session cut, nothing left behind).
        self.restart_service("postgres", *self.service_args("postgres"))

    def restart_rabbitmq(self) -> None:
        self.restart_service("rabbitmq", *self.service_args("rabbitmq"))

    def restart_redis(self) -> None:
        self.restart_service("redis", *self.service_args("redis"))

    def dead_during(self, kind: str, host: str, restart: Callable[[], None], during: str) -> None:
        """Two faults at once: ``host`` killed -9, the ``during`` fault from start to
        end while it is dead, then ``host`` restarted. Two windows, one inside the
        other; the process comes back to services that have just come back."""
        start = time.time()
        log(f"fault: {kind} {host}, overlapping {during}")
        self.stop(host, signal.SIGKILL, 10)
        self.counts["kills"] += 1
        try:
            self.run(during)
        finally:
            restart()
            self.counts["restarts"] += 1
            self.record(kind, host, start)
        self.counts["overlaps"] += 1
        self.done.append(f"overlap:{kind}+{during}")

    def worker_dead_while_postgres_restarts(self) -> None:
        host = self.random.choice(["worker1", "worker2"])

        def restart() -> None:
            self.replace(host, lambda: self.current.start_worker(host))

        self.dead_during("worker", host, restart, "restart_postgres")

    def web_dead_while_rabbitmq_restarts(self) -> None:
        host = self.random.choice(["web1", "web2"])

        def restart() -> None:
            started = self.replace(host, lambda: self.current.start_web(host))
            self.current.wait_listening(started, host, WEB_PORT, seconds=90)

        self.dead_during("web", host, restart, "restart_rabbitmq")

    def stall_worker(self) -> None:
        host = self.random.choice(["worker1", "worker2"])

        def act() -> None:
            popen = self.by_name[host].popen
            popen.send_signal(signal.SIGSTOP)
            try:
                time.sleep(STALL_S)
            finally:
                popen.send_signal(signal.SIGCONT)
            self.counts["stalls"] += 1

        self.window("stall", host, act)

    def run(self, kind: str) -> None:
        getattr(self, kind)()


def check_routes(current: ChaosRun) -> None:
    """Before anything is sent: every namespace of the run reaches the private subnet
    directly on its own link, and the root namespace has no address or route on it
    (so nothing can leave through the machine's default route)."""
    for host in HOSTS:
        for target in ("proxy", "services"):
            route = current.sh("ip", "-n", current.ns(host), "route", "get", address(target))
            if " via " in route or ("dev eth0" not in route and "dev lo" not in route):
                raise Failed(f"{host} would not reach {target} on the private link: {route}")
    root = current.sh("ip", "-o", "addr", "show") + current.sh("ip", "route", "show")
    if f"{address('proxy').rsplit('.', 1)[0]}." in root:
        raise Failed("the root namespace has an address or route on the private subnet")


def in_client(current: ChaosRun, command: str, args: dict[str, Any], timeout: float) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
    env["CHAOS_ARGS"] = json.dumps(args)
    done = subprocess.run(
        current.in_ns("client", current.python, str(LOAD), command),
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise Failed(f"chaos_load.py {command} exited {done.returncode} without a report") from None


def start_hosts(current: ChaosRun) -> dict[str, Started]:
    """The multihost layout, up and reachable from the client host; by process name."""
    current.build_network()
    check_routes(current)
    by_name: dict[str, Started] = {}
    by_name["rabbitmq"] = current.start_rabbitmq()
    by_name["postgres"] = current.start_postgres()
    by_name["redis"] = current.start_redis()
    current.wait_listening(by_name["postgres"], "services", PG_PORT, seconds=60)
    current.wait_listening(by_name["redis"], "services", REDIS_PORT, seconds=30)
    current.wait_listening(by_name["rabbitmq"], "services", AMQP_PORT, seconds=120)
    for started in current.start_gradeflow():
        by_name[started.name] = started
    nginx = current.start_nginx()
    for host in ("web1", "web2"):
        current.wait_listening(by_name[host], host, WEB_PORT, seconds=90)
    current.wait_listening(nginx, "proxy", PROXY_PORT, seconds=30)
    by_name["nginx"] = nginx
    log(f"all up after {current.elapsed():.0f} s")
    return by_name


def load_args(current: ChaosRun, options: argparse.Namespace, max_load_s: float) -> dict[str, Any]:
    """What ``chaos_load.py`` is told; its files live in the run's directory."""
    directory = current.directory
    faults_log = directory / "faults.jsonl"
    faults_log.touch()
    return {
        "proxy": f"http://{address('proxy')}:{PROXY_PORT}",
        "admin_email": ADMIN_EMAIL,
        "admin_password": current.secrets["admin"],
        "database_url": current.urls()["GRADEFLOW_DATABASE_URL"],
        "broker_url": current.urls()["GRADEFLOW_BROKER_URL"],
        "students": options.students,
        "stop_file": str(directory / "stop"),
        "ready_file": str(directory / "ready"),
        "journal": str(directory / "journal.json"),
        "faults": str(faults_log),
        "max_load_s": max_load_s,
        "drain_s": options.drain,
        "grace_s": 10,
        "seed": options.seed,
    }


def start_load(current: ChaosRun, args: dict[str, Any]) -> subprocess.Popen[str]:
    """The load on the client host, once it is ready (its setup done)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
    env["CHAOS_ARGS"] = json.dumps(args)
    load = subprocess.Popen(
        current.in_ns("client", current.python, str(LOAD), "load"),
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 180
    while not Path(args["ready_file"]).exists():
        if load.poll() is not None or time.monotonic() > deadline:
            load.kill()
            load.wait(timeout=30)
            raise Failed("the load did not get ready")
        time.sleep(0.5)
    return load


def finish_load(load: subprocess.Popen[str], args: dict[str, Any]) -> dict[str, Any]:
    """Stop the load, let it drain, and return its report."""
    Path(args["stop_file"]).touch()
    try:
        out, _ = load.communicate(timeout=float(args["drain_s"]) + 120)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait(timeout=30)
    try:
        report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise Failed(f"the load exited {load.returncode} without a report") from None
    if "error" in report:
        raise Failed(f"the load failed: {report['error']}")
    return report


def exercise(current: ChaosRun, options: argparse.Namespace) -> dict[str, Any]:
    by_name = start_hosts(current)
    args = load_args(current, options, max_load_s=options.duration + 600)
    args["give_up_share"] = options.give_up
    load = start_load(current, args)
    faults = Faults(current, by_name, Path(args["faults"]), options.seed)
    try:
        log("load running; faults begin")
        ends = time.monotonic() + options.duration
        # Every kind once (in a random order), then random ones until the time is up.
        kinds = options.kinds.split(",") if options.kinds else list(FAULTS)
        plan = list(kinds)
        faults.random.shuffle(plan)
        for number in range(options.max_faults):
            if number >= len(plan) and time.monotonic() > ends:
                break
            faults.run(plan[number] if number < len(plan) else faults.random.choice(kinds))
            time.sleep(2 + 2 * faults.random.random())
        log(f"faults over after {current.elapsed():.0f} s; the load drains")
    except BaseException:
        load.kill()
        load.wait(timeout=30)
        raise
    load_report = finish_load(load, args)
    dead = [name for name, started in by_name.items() if started.popen.poll() is not None]
    checked = in_client(current, "check", args, timeout=300)
    if "error" in checked:
        raise Failed(f"the checker failed: {checked['error']}")
    checked["violations"].extend(faults.violations)
    if dead:
        checked["violations"].append(f"not running at the end: {dead}")
    return {
        **checked,
        "kills": faults.counts["kills"],
        "restarts": faults.counts["restarts"],
        "stalls": faults.counts["stalls"],
        "overlaps": faults.counts["overlaps"],
        "faults": faults.done,
        "left_after_drain": load_report["left_after_drain"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=180, help="seconds of faults (at least one of each kind)"
    )
    parser.add_argument(
        "--kinds",
        help=f"comma-separated faults to choose from; default all: {','.join(FAULTS)}",
    )
    parser.add_argument("--max-faults", type=int, default=60, help="upper bound on faults")
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument(
        "--give-up",
        type=float,
        default=0.15,
        help="share of submits whose student stops waiting for the answer within 0.2 s",
    )
    parser.add_argument("--drain", type=float, default=180, help="seconds for the load to drain")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds for it all")
    parser.add_argument("--report", help="write the report as JSON to this file")
    parser.add_argument("--python", default=sys.executable, help="interpreter with gradeflow")
    parser.add_argument("--seed", type=int, help="of the faults' and the load's choices")
    parser.add_argument("--run-id", help="names the namespaces gfmh-ID-*; default random")
    options = parser.parse_args()
    if os.geteuid() != 0:
        log("needs root (network namespaces)")
        return 2
    unknown = set((options.kinds or "").split(",")) - set(FAULTS) - {""}
    if unknown:
        parser.error(f"--kinds: no such fault {', '.join(sorted(unknown))}")
    if options.seed is None:
        options.seed = random.randrange(1 << 16)
    run_id = options.run_id or "c" + uuid.uuid4().hex[:5]
    current = ChaosRun.create(run_id, python=options.python, timeout=options.timeout)
    directory, started_at = current.directory, current.started_at
    report: dict[str, Any] = {"run_id": run_id, "seed": options.seed}
    log(f"run {run_id} (--seed {options.seed}) in {directory}")
    try:
        with interruptible(options.timeout):
            report.update(exercise(current, options))
    except (Failed, subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        report["error"] = str(exc) or type(exc).__name__
        log(f"FAILED: {report['error']}")
        for started in current.processes:
            log(f"--- {started.name} (last lines)\n{tail(started.log_path)}")
    finally:
        # Before the teardown: it removes the run's directory.
        if report.get("error") or report.get("violations"):
            # What explains a violation: every process's log, the clients' journal, the faults.
            kept = Path(tempfile.gettempdir()) / f"gradeflow-chaos-{run_id}-logs"
            shutil.copytree(directory / "logs", kept, dirs_exist_ok=True)
            for name in ("journal.json", "faults.jsonl", "hosts/proxy/nginx-error.log"):
                if (directory / name).exists():
                    shutil.copy(directory / name, kept)
            report["logs"] = str(kept)
            log(f"logs kept in {kept}")
        current.stop_all()
        shutil.rmtree(directory, ignore_errors=True)
        report["seconds"] = round(time.monotonic() - started_at, 1)
        report["namespaces_left"] = run_namespaces(run_id)
        if options.report:
            Path(options.report).write_text(json.dumps(report, indent=2))
    for violation in report.get("violations", [])[:50]:
        log(f"VIOLATION {violation}")
    counts = {
        key: report.get(key)
        for key in ("requests", "kills", "restarts", "stalls", "overlaps",
                    "submissions_checked", "uploads_checked", "sse_reconnects")
    }  # fmt: skip
    counts["violations"] = len(report.get("violations", []))
    for what, count in sorted((report.get("server_errors") or {}).items()):
        log(f"{count:5d} x {what}")
    log(f"statuses {report.get('statuses')}; submissions {report.get('submission_outcomes')};"
        f" submit attempts {report.get('submit_attempts')};"
        f" uploads {report.get('upload_outcomes')}")  # fmt: skip
    log(" ".join(f"{key}={value}" for key, value in counts.items()) + f" in {report['seconds']} s")
    ok = "error" not in report and counts["violations"] == 0 and not report["namespaces_left"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
