"""PostgreSQL, Redis and RabbitMQ of a test module's own, on free loopback ports.

Tests that stop and restart services use these, never the machine's shared ones:
another test run on the same machine, or a developer's ``make run``, must not see
its database disappear because a failure test is running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Self

from tests.conftest import free_port

STOP_GRACE_S = 30.0
START_TIMEOUT_S = 120.0


def postgres_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL's initdb is not under /usr/lib/postgresql/*/bin")
    return found[-1].parent


def as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; as anyone else it runs as that user."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *command]


@dataclass
class Service:
    name: str
    port: int
    command: list[str]
    log: IO[bytes]
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path) -> None:
        assert self.popen is None or self.popen.poll() is not None, f"{self.name} already runs"
        self.popen = subprocess.Popen(
            self.command,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=cwd,
            start_new_session=True,  # its children (RabbitMQ's Erlang VM) stop with it
        )
        wait_for(lambda: port_open(self.port), f"{self.name} listening on {self.port}")

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.signal_group(signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.popen.wait(timeout=30)
        wait_for(lambda: not port_open(self.port), f"{self.name} gone from {self.port}")

    def signal_group(self, signum: int) -> None:
        assert self.popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(probe: Callable[[], bool], what: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


@dataclass
class PrivateServices:
    """One PostgreSQL cluster, one Redis and one RabbitMQ node, each restartable."""

    directory: Path
    services: dict[str, Service] = field(default_factory=dict)

    @classmethod
    def start(cls) -> Self:
        directory = Path(tempfile.mkdtemp(prefix="gradeflow-private-services-"))
        directory.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data
        private = cls(directory)
        try:
            private.services = {
                "postgres": private.postgres(),
                "redis": private.redis(),
                "rabbitmq": private.rabbitmq(),
            }
            for service in private.services.values():
                service.start(directory)
        except BaseException:
            private.close()
            raise
        return private

    def log(self, name: str) -> IO[bytes]:
        return (self.directory / f"{name}.log").open("ab")

    def postgres(self) -> Service:
        bindir, data, port = postgres_bindir(), self.directory / "postgres", free_port()
        data.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres", "postgres")
        subprocess.run(
            as_postgres_user(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                 "--no-sync", "--encoding=UTF8", "--locale=C"]
            ),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        command = as_postgres_user(
            [str(bindir / "postgres"), "-D", str(data), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        )  # fmt: skip
        return Service("postgres", port, command, self.log("postgres"))

    def redis(self) -> Service:
        port, data = free_port(), self.directory / "redis"
        data.mkdir()
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                   "--appendonly", "no", "--dir", str(data), "--daemonize", "no"]  # fmt: skip
        return Service("redis", port, command, self.log("redis"))

    def rabbitmq(self) -> Service:
        base, port = self.directory / "rabbitmq", free_port()
        for sub in ("mnesia", "log", "home"):
            (base / sub).mkdir(parents=True)  # a restart keeps the durable queues
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")
        # A nearly full disk on a shared test machine must not block publishers.
        (base / "rabbitmq.conf").write_text(
            "log.console = false\nlog.file.level = warning\ndisk_free_limit.absolute = 1MB\n"
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(base / "home"),  # this node's own Erlang cookie
            "RABBITMQ_NODENAME": f"gftest{port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        server = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        if not Path(server).exists():
            server = shutil.which("rabbitmq-server") or server
        return Service("rabbitmq", port, [server], self.log("rabbitmq"), env)

    def stop(self, name: str) -> None:
        self.services[name].stop()

    def restart(self, name: str) -> None:
        self.services[name].start(self.directory)

    def ensure_up(self) -> None:
        """Put back whatever a failed test left stopped."""
        for service in self.services.values():
            if service.popen is None or service.popen.poll() is not None:
                service.start(self.directory)

    @property
    def postgres_admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.services['postgres'].port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.services['postgres'].port}/{name}"

    @property
    def broker_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.services['rabbitmq'].port}/"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.services['redis'].port}/0"

    def close(self) -> None:
        for service in self.services.values():
            service.stop()
            service.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)
