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
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

NS_PREFIX = "gfmh-"
SUBNET = "10.231.0"
HOSTS = {
    "services": 2,
    "proxy": 3,
    "web1": 11,
    "web2": 12,
    "worker1": 21,
    "worker2": 22,
    "client": 100,
}
GRADEFLOW_HOSTS = ("web1", "web2", "worker1", "worker2")
# Not the services' usual ports: a process that fell back to a default would fail.
PG_PORT, AMQP_PORT, REDIS_PORT, WEB_PORT, PROXY_PORT = 5433, 5673, 6380, 8001, 8080
ADMIN_EMAIL = "admin@multihost.test"
STOP_GRACE_S = 10.0


def address(host: str) -> str:
    return f"{SUBNET}.{HOSTS[host]}"


def log(message: str) -> None:
    print(f"multihost: {message}", file=sys.stderr, flush=True)


class Failed(Exception):
    """A step of the run failed; the message says which and why."""


def until(deadline: float, what: str, probe: Callable[[], bool], *, every: float = 0.3) -> None:
    """Poll ``probe`` until it is true, at most until ``deadline`` (monotonic)."""
    while True:
        if probe():
            return
        if time.monotonic() >= deadline:
            raise Failed(f"timed out waiting for {what}")
        time.sleep(every)


@dataclass
class Started:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]


@dataclass
class Run:
    run_id: str
    directory: Path
    python: str
    deadline: float
    started_at: float
    secrets: dict[str, str] = field(default_factory=dict)
    processes: list[Started] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def ns(self, host: str) -> str:
        return f"{NS_PREFIX}{self.run_id}-{host}"

    @property
    def lan(self) -> str:
        return f"{NS_PREFIX}{self.run_id}-lan"

    def in_ns(self, host: str, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host), *command]

    def sh(self, *command: str, timeout: float = 60, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
        if done.returncode != 0:
            raise Failed(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> Started:
        log_path = self.directory / "logs" / f"{name}.log"
        handle = log_path.open("wb")
        popen = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=self.directory
        )
        started = Started(name, popen, log_path, handle)
        self.processes.append(started)
        return started

    def tcp_reachable(self, from_host: str, host: str, port: int) -> bool:
        """A TCP connect from inside ``from_host``'s namespace (bash's /dev/tcp, no tools)."""
        probe = f"exec 3<>/dev/tcp/{address(host)}/{port}"
        done = subprocess.run(
            self.in_ns(from_host, "timeout", "2", "bash", "-c", probe),
            capture_output=True,
            timeout=10,
            check=False,
        )
        return done.returncode == 0

    def wait_listening(self, process: Started, host: str, port: int, *, seconds: float) -> None:
        deadline = min(self.deadline, time.monotonic() + seconds)

        def up() -> bool:
            if process.popen.poll() is not None:
                raise Failed(f"{process.name} exited:\n{tail(process.log_path)}")
            return self.tcp_reachable("client", host, port)

        until(deadline, f"{process.name} on {address(host)}:{port}", up, every=0.5)

    # -- network

    def build_network(self) -> None:
        self.sh("ip", "netns", "add", self.lan)
        self.sh("ip", "-n", self.lan, "link", "add", "br0", "type", "bridge")
        self.sh("ip", "-n", self.lan, "link", "set", "br0", "up")
        for host in HOSTS:
            ns = self.ns(host)
            self.sh("ip", "netns", "add", ns)
            port = f"v-{host}"
            self.sh(
                "ip", "link", "add", port, "netns", self.lan,
                "type", "veth", "peer", "name", "eth0", "netns", ns,
            )  # fmt: skip
            self.sh("ip", "-n", self.lan, "link", "set", port, "master", "br0", "up")
            self.sh("ip", "-n", ns, "addr", "add", f"{address(host)}/24", "dev", "eth0")
            self.sh("ip", "-n", ns, "link", "set", "eth0", "up")
        # Erlang's epmd wants a loopback; no other host gets one, so nothing there
        # can lean on 127.0.0.1.
        self.sh("ip", "-n", self.ns("services"), "link", "set", "lo", "up")

    # -- services

    def start_rabbitmq(self) -> Started:
        base = self.directory / "rabbitmq"
        for sub in ("mnesia", "log", "home"):
            (base / sub).mkdir(parents=True)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")
        (base / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    "default_vhost = gradeflow",
                    "default_user = gradeflow",
                    f"default_pass = {self.secrets['amqp']}",
                    "log.console = false",
                    "log.file.level = warning",
                    # A nearly full disk on a shared test machine must not block publishers.
                    "disk_free_limit.absolute = 1MB",
                    "",
                ]
            )
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(base / "home"),  # the Erlang cookie of this node only
            "RABBITMQ_NODENAME": f"gfmh{self.run_id}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": address("services"),
            "RABBITMQ_NODE_PORT": str(AMQP_PORT),
            "RABBITMQ_DIST_PORT": str(AMQP_PORT + 20000),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
            # epmd starts inside the services namespace; it and the node-to-node port
            # listen on that namespace's loopback: this node has no peers.
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        server = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        if not Path(server).exists():
            server = shutil.which("rabbitmq-server") or server
        return self.start("rabbitmq", self.in_ns("services", server), env)

    def start_postgres(self) -> Started:
        bindir = postgres_bindir()
        base = self.directory / "postgres"
        base.mkdir()
        password_file = base / "password"
        password_file.write_text(self.secrets["pg"] + "\n")
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(password_file, "postgres", "postgres")
        data = base / "data"
        self.sh(
            "setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
            str(bindir / "initdb"), "-D", str(data), "-U", "gradeflow",
            f"--pwfile={password_file}", "--auth-local=trust", "--auth-host=scram-sha-256",
            "--no-sync", "--encoding=UTF8", "--locale=C",
            timeout=120,
        )  # fmt: skip
        with (data / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {SUBNET}.0/24 scram-sha-256\n")
        return self.start(
            "postgres",
            self.in_ns(
                "services",
                "setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
                str(bindir / "postgres"), "-D", str(data),
                "-c", f"listen_addresses={address('services')}", "-p", str(PG_PORT),
                # No Unix socket: the only way in is the namespace address.
                "-c", "unix_socket_directories=",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            ),
        )  # fmt: skip

    def start_redis(self) -> Started:
        base = self.directory / "redis"
        base.mkdir()
        return self.start(
            "redis",
            self.in_ns(
                "services",
                "redis-server", "--bind", address("services"), "--port", str(REDIS_PORT),
                "--requirepass", self.secrets["redis"], "--save", "", "--appendonly", "no",
                "--dir", str(base), "--daemonize", "no",
            ),
        )  # fmt: skip

    # -- gradeflow

    def urls(self) -> dict[str, str]:
        services = address("services")
        return {
            "GRADEFLOW_DATABASE_URL": f"postgresql+asyncpg://gradeflow:{self.secrets['pg']}"
            f"@{services}:{PG_PORT}/gradeflow",
            "GRADEFLOW_BROKER_URL": f"amqp://gradeflow:{self.secrets['amqp']}"
            f"@{services}:{AMQP_PORT}/gradeflow",
            "GRADEFLOW_REDIS_URL": f"redis://:{self.secrets['redis']}@{services}:{REDIS_PORT}/0",
        }

    def gradeflow_env(self, host: str) -> dict[str, str]:
        """What every web and worker host is given: the services' URLs, the shared secret
        key and blob store, and a data dir of its own."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
        env.update(self.urls())
        data_dir = self.directory / "hosts" / host / "var"
        data_dir.mkdir(parents=True, exist_ok=True)
        env.update(
            GRADEFLOW_DATA_DIR=str(data_dir),
            GRADEFLOW_SECRET_KEY=self.secrets["key"],
            GRADEFLOW_BLOB_STORE="database",
            GRADEFLOW_HOST=address(host),
            GRADEFLOW_DB_POOL_SIZE="4",
            GRADEFLOW_DB_MAX_OVERFLOW="4",
            GRADEFLOW_SWEEP_INTERVAL_S="2",
            GRADEFLOW_LOG_JSON="true",
            GRADEFLOW_TRUSTED_PROXIES=address("proxy"),
            # Low, so the proof can show whose address a web host counts failures against.
            GRADEFLOW_SIGN_IN_FAILURES_PER_ADDRESS="3",
        )
        return env

    def gradeflow(self, host: str, *args: str, timeout: float = 120) -> str:
        env = self.gradeflow_env(host)
        env["GRADEFLOW_ADMIN_PASSWORD"] = self.secrets["admin"]
        return self.sh(
            *self.in_ns(host, self.python, "-m", "gradeflow", *args), timeout=timeout, env=env
        )

    def start_gradeflow(self) -> list[Started]:
        self.gradeflow("web1", "db", "create-if-missing")
        self.gradeflow("web1", "users", "create-admin", ADMIN_EMAIL)  # migrates first
        started = []
        for host in ("web1", "web2"):
            command = self.in_ns(
                host, self.python, "-m", "gradeflow", "web",
                "--host", address(host), "--port", str(WEB_PORT),
            )  # fmt: skip
            started.append(self.start(host, command, self.gradeflow_env(host)))
        for host in ("worker1", "worker2"):
            command = self.in_ns(
                host, self.python, "-m", "gradeflow", "worker",
                "--concurrency", "1", "--shutdown-grace", "5",
            )  # fmt: skip
            started.append(self.start(host, command, self.gradeflow_env(host)))
        return started

    def start_nginx(self) -> Started:
        from gradeflow.stack import StackPlan, nginx_binary, nginx_config

        plan = StackPlan(
            directory=self.directory / "hosts" / "proxy",
            web=2,
            workers=2,
            concurrency=1,
            port=PROXY_PORT,
            first_web_port=WEB_PORT,
            host=address("proxy"),
            upstreams=tuple(f"{address(h)}:{WEB_PORT}" for h in ("web1", "web2")),
        )
        (plan.directory / "nginx-tmp").mkdir(parents=True)
        (plan.directory / "nginx.conf").write_text(nginx_config(plan))
        self.gradeflow("proxy", "pages", "write", str(plan.pages_directory))
        command = [nginx_binary(), "-c", str(plan.directory / "nginx.conf")]
        return self.start("nginx", self.in_ns("proxy", *command))

    # -- teardown

    def stop_all(self) -> None:
        """Every process of every namespace of this run, then the namespaces."""
        clean(self.run_id)
        for started in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.popen.wait(timeout=5)
            started.log.close()


def postgres_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise Failed("PostgreSQL's initdb is not under /usr/lib/postgresql/*/bin")
    return found[-1].parent


def run_namespaces(run_id: str) -> list[str]:
    listing = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    names = [line.split()[0] for line in listing.splitlines() if line.strip()]
    return [name for name in names if name.startswith(f"{NS_PREFIX}{run_id}-")]


def namespace_pids(name: str) -> list[int]:
    done = subprocess.run(
        ["ip", "netns", "pids", name], capture_output=True, text=True, timeout=30, check=False
    )
    return [int(pid) for pid in done.stdout.split() if pid.isdigit()]


def clean(run_id: str, *, grace_s: float = STOP_GRACE_S) -> list[str]:
    """Stop what still runs in this run's namespaces (SIGTERM, so workers put their
    sandboxes away; SIGKILL after ``grace_s``), then delete them, veths and all."""
    names = run_namespaces(run_id)
    for signum, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        for name in names:
            for pid in namespace_pids(name):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
        deadline = time.monotonic() + wait_s
        while any(namespace_pids(name) for name in names) and time.monotonic() < deadline:
            time.sleep(0.2)
    for name in names:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30, check=False)
    for directory in Path(tempfile.gettempdir()).glob(f"gradeflow-multihost-{run_id}-*"):
        shutil.rmtree(directory, ignore_errors=True)
    return names


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


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
    directory = Path(tempfile.mkdtemp(prefix=f"gradeflow-multihost-{run_id}-"))
    directory.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data dir
    (directory / "logs").mkdir()
    started_at = time.monotonic()
    current = Run(
        run_id=run_id,
        directory=directory,
        python=args.python,
        deadline=started_at + args.timeout,
        started_at=started_at,
        secrets={k: secrets.token_hex(16) for k in ("pg", "amqp", "redis", "key", "admin")},
    )
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
