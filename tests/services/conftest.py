"""Services mode against the real local PostgreSQL, RabbitMQ and Redis.

Each test gets its own PostgreSQL database, queue prefix (so its own RabbitMQ
queues) and Redis key prefix, removed afterwards. Helpers here start real
``gradeflow web``/``worker`` processes. Tests that stop services stop their own
(``private.py``), never these shared ones.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import httpx
import pytest
from redis.asyncio import Redis

from gradeflow.grading.messages import QUEUES
from gradeflow.settings import Settings
from tests.conftest import free_port, import_course_dir, postgres_clone

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).parents[2]


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Services mode runs on PostgreSQL only."""
    yield from postgres_clone(request.getfixturevalue("postgres_template"))


async def _drop_broker_and_cache_state(
    prefix: str, broker_url: str = BROKER_URL, redis_url: str = REDIS_URL
) -> None:
    try:
        connection = await aio_pika.connect(broker_url, timeout=5)
        async with connection:
            channel = await connection.channel()
            for queue in QUEUES:
                for name in (f"{prefix}.{queue}", f"{prefix}.{queue}.dead"):
                    await channel.queue_delete(name)
            await channel.exchange_delete(f"{prefix}.dead")
    except Exception as exc:  # never mask the test
        print(f"cleanup of queues {prefix}.* failed: {exc}")
    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def services_settings(
    tmp_path: Path, database_url: str, broker_url: str = BROKER_URL, redis_url: str = REDIS_URL
) -> Iterator[Settings]:
    """Settings of one test in services mode; its queues and cache keys removed after."""
    prefix = f"gftest-{uuid.uuid4().hex[:10]}"
    yield Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        broker_url=broker_url,
        redis_url=redis_url,
        queue_prefix=prefix,
        secret_key="services-test-" + uuid.uuid4().hex,
        grader_slots=2,
        sweep_interval_s=0.5,
        lease_margin_s=2.0,
    )
    asyncio.run(_drop_broker_and_cache_state(prefix, broker_url, redis_url))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Iterator[Settings]:
    yield from services_settings(tmp_path, database_url)


def environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
    env.update(
        GRADEFLOW_DATA_DIR=str(settings.data_dir),
        GRADEFLOW_DATABASE_URL=settings.database_url,
        GRADEFLOW_BROKER_URL=settings.broker_url,
        GRADEFLOW_REDIS_URL=settings.redis_url,
        GRADEFLOW_QUEUE_PREFIX=settings.queue_prefix,
        GRADEFLOW_SECRET_KEY=settings.secret_key,
        GRADEFLOW_SWEEP_INTERVAL_S=str(settings.sweep_interval_s),
        GRADEFLOW_LEASE_MARGIN_S=str(settings.lease_margin_s),
        GRADEFLOW_LOG_JSON="true",
        GRADEFLOW_METRICS_PORT=str(settings.metrics_port),
        GRADEFLOW_DB_POOL_SIZE=str(settings.db_pool_size),
        GRADEFLOW_DB_MAX_OVERFLOW=str(settings.db_max_overflow),
    )
    return env


class Process:
    """A real gradeflow process (``web`` or ``worker``) with its log in a file."""

    def __init__(self, settings: Settings, *args: str, name: str) -> None:
        self.log_path = settings.data_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "gradeflow", *args],
            env=environment(settings),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    def kill(self, signum: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signum)
        self.popen.wait(timeout=60)
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class WebProcess(Process):
    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(settings, "web", "--port", str(self.port), name="web")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"web process exited:\n{self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"web process did not start:\n{self.output()}")


def new_student(web: WebProcess) -> httpx.Client:
    """A new anonymous student's client on ``web`` (close it when done)."""
    client = httpx.Client(base_url=web.url, timeout=30)
    client.post("/api/session")
    return client


def submit(client: httpx.Client, code: str) -> httpx.Response:
    """Submit ``code`` to the student's next assignment."""
    assignment = client.get("/api/assignments/next").json()
    return client.post(f"/api/assignments/{assignment['id']}/submissions", json={"code": code})


def worker_process(settings: Settings, concurrency: int = 2) -> Process:
    return Process(
        settings,
        "worker",
        "--concurrency",
        str(concurrency),
        "--shutdown-grace",
        "5",
        name="worker",
    )


@pytest.fixture
async def course(settings: Settings, course_dir: Path) -> None:
    await import_course_dir(settings, course_dir)


def wait_graded(client: httpx.Client, submission_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        response = client.get(f"/api/submissions/{submission_id}")
        if response.status_code == 200:
            body = response.json()
            if body["status"] in ("passed", "failed", "error"):
                return body
        time.sleep(0.1)
    raise AssertionError(f"submission {submission_id} not graded in {timeout}s: {body}")
