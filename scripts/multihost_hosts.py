"""The hosts of a multi-host run: network namespaces on one bridge, the services,
gradeflow's web and worker processes and nginx started inside them, and the teardown.

Used by ``multihost.py``; every process is started inside one of the run's
namespaces, so ``ip netns pids`` finds all of them when it is time to stop.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Self

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

    @classmethod
    def create(cls, run_id: str, *, python: str, timeout: float) -> Self:
        """A run with a new directory and new secrets of its own, its clock started."""
        directory = Path(tempfile.mkdtemp(prefix=f"gradeflow-multihost-{run_id}-"))
        directory.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data dir
        (directory / "logs").mkdir()
        started_at = time.monotonic()
        return cls(
            run_id=run_id,
            directory=directory,
            python=python,
            deadline=started_at + timeout,
            started_at=started_at,
            secrets={k: secrets.token_hex(16) for k in ("pg", "amqp", "redis", "key", "admin")},
        )

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
        handle = log_path.open("ab")  # a restarted process continues its log
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
            (base / sub).mkdir(parents=True, exist_ok=True)  # a restart keeps the queues
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
        data = base / "data"
        if not data.exists():  # else a restart of the same cluster
            self.init_postgres(base)
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

    def init_postgres(self, base: Path) -> None:
        bindir = postgres_bindir()
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

    def start_redis(self) -> Started:
        base = self.directory / "redis"
        base.mkdir(exist_ok=True)
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
        web = [self.start_web(host) for host in ("web1", "web2")]
        return web + [self.start_worker(host) for host in ("worker1", "worker2")]

    def start_web(self, host: str) -> Started:
        command = self.in_ns(
            host, self.python, "-m", "gradeflow", "web",
            "--host", address(host), "--port", str(WEB_PORT),
        )  # fmt: skip
        return self.start(host, command, self.gradeflow_env(host))

    def start_worker(self, host: str) -> Started:
        command = self.in_ns(
            host, self.python, "-m", "gradeflow", "worker",
            "--concurrency", "1", "--shutdown-grace", "5",
        )  # fmt: skip
        return self.start(host, command, self.gradeflow_env(host))

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
