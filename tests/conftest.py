"""Shared fixtures: settings, databases (SQLite and PostgreSQL), the app and a live server."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts import security
from gradeflow.app import AppServer, create_app
from gradeflow.courses.format import load_path
from gradeflow.courses.service import import_course
from gradeflow.db import create_engine, create_session_factory, transaction
from gradeflow.grading.sandbox import (
    ProcessSandbox,
    Sandbox,
    ZygoteSandbox,
    namespaces_unavailable_reason,
)
from gradeflow.migrate import upgrade_database
from gradeflow.settings import Settings
from tests.factories import write_course

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
# One template per pytest process, so concurrent runs on one server never share it.
PG_TEMPLATE = f"gradeflow_test_template_{uuid.uuid4().hex[:8]}"


def pg_url(name: str) -> str:
    assert name.startswith("gradeflow_test"), "refusing to touch a database not named for tests"
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def _pg_admin(*statements: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


# What production hashes passwords at (tests/accounts/test_security.py holds it there).
PRODUCTION_SCRYPT_N = security.SCRYPT_N


@pytest.fixture(autouse=True, scope="session")
def light_password_hashes() -> Iterator[None]:
    """The suite's thousands of accounts and sign-ins hash at scrypt's n=2**10, ~5 ms a
    hash here instead of ~80 at production's 2**14. Nothing else differs: a hash stores
    its cost and is verified at it, as in production. Processes the tests start (a live
    stack's web processes) hash at production's cost."""
    security.SCRYPT_N = 2**10
    yield
    security.SCRYPT_N = PRODUCTION_SCRYPT_N


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; tests copy it instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade_database(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated once per run, cloned per test."""
    asyncio.run(
        _pg_admin(
            f"DROP DATABASE IF EXISTS {PG_TEMPLATE} WITH (FORCE)", f"CREATE DATABASE {PG_TEMPLATE}"
        )
    )
    upgrade_database(pg_url(PG_TEMPLATE))
    yield PG_TEMPLATE
    asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {PG_TEMPLATE} WITH (FORCE)"))


def sqlite_copy(template: Path, directory: Path) -> str:
    path = directory / "gradeflow.sqlite3"
    shutil.copy(template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of each kind."""
    if request.param == "sqlite":
        yield sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
        return
    yield from postgres_clone(request.getfixturevalue("postgres_template"))


def postgres_clone(template: str, before_drop: Callable[[], None] = lambda: None) -> Iterator[str]:
    """A database cloned from the migrated template, dropped afterwards."""
    name = f"gradeflow_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f"CREATE DATABASE {name} TEMPLATE {template}"))
    try:
        yield pg_url(name)
    finally:
        before_drop()
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        secret_key="test-secret-key-" + uuid.uuid4().hex,
        grader_slots=2,
        sweep_interval_s=0.5,
    )


@pytest.fixture
async def session_factory(settings: Settings):
    engine = create_engine(settings.resolved_database_url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
def course_dir(tmp_path: Path) -> Path:
    return write_course(tmp_path / "courses")


async def import_course_dir(settings: Settings, path: Path) -> None:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            await import_course(session, spec=load_path(path))
    finally:
        await engine.dispose()


@pytest.fixture
async def app(settings: Settings, course_dir: Path) -> AsyncIterator[FastAPI]:
    await import_course_dir(settings, course_dir)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def new_student(client: httpx.AsyncClient) -> dict[str, object]:
    response = await client.post("/api/session")
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


async def wait_for_final(
    client: httpx.AsyncClient, submission_id: int, timeout: float = 20
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await client.get(f"/api/submissions/{submission_id}")
        body = response.json()
        if body["status"] in ("passed", "failed", "error"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"submission {submission_id} not graded within {timeout}s: {body}")


_RECORDING: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "recorded_statements", default=None
)


def _record_statement(*args: object) -> None:
    seen = _RECORDING.get()
    if seen is not None:
        seen.append(str(args[2]))  # (connection, cursor, statement, ...)


@contextlib.contextmanager
def recorded_statements() -> Iterator[list[str]]:
    """The SQL statements run meanwhile by this task and the tasks it starts, in order
    (not by the in-process grader's or sweepers' tasks)."""
    seen: list[str] = []
    token = _RECORDING.set(seen)
    event.listen(Engine, "before_cursor_execute", _record_statement)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", _record_statement)
        _RECORDING.reset(token)


def read_before(statements: list[str], first: str, then: str) -> bool:
    """Whether a statement containing ``first`` ran before any containing ``then``
    (both must have run)."""
    lowered = [s.lower() for s in statements]
    firsts = [i for i, s in enumerate(lowered) if first.lower() in s]
    thens = [i for i, s in enumerate(lowered) if then.lower() in s]
    assert firsts, f"no statement with {first!r}"
    assert thens, f"no statement with {then!r}"
    return firsts[0] < thens[0]


def sqlite_writable_now(database_url: str) -> bool:
    """Whether another connection may write to the SQLite database at once: nobody holds
    its write lock (asked not to wait, the connection fails instead of waiting it out)."""
    other = sqlite3.connect(make_url(database_url).database or "", timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return False
    finally:
        other.close()
    return True


class StatementGate:
    """A SQLite statement held in flight until the test opens the gate: ``hold`` runs,
    in the caller's session, a statement that waits on the connection's thread."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._open = threading.Event()
        self.driver: Any = None  # the held connection's aiosqlite connection

    def _wait(self) -> int:
        self.entered.set()
        self._open.wait(timeout=30)
        return 1

    async def hold(self, session: AsyncSession) -> None:
        raw = await (await session.connection()).get_raw_connection()
        self.driver = raw.driver_connection
        await self.driver.create_function("wait_at_gate", 0, self._wait)
        await session.execute(text("SELECT wait_at_gate()"))

    async def reached(self) -> bool:
        """Whether the statement is in flight (waited for, 30 s at most)."""
        return await asyncio.to_thread(self.entered.wait, 30)

    def open(self) -> None:
        self._open.set()


# A live page's stream starts after the event id the page was made at: read after the
# state the page shows, an event committed between the two reads would be skipped.
STARTING_EVENT_ID = "max(events.id)"


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` consecutive loopback ports that are free now.

    Taken below the kernel's ephemeral range (32768 and up here), where the outgoing
    connections of every other test get their ports, so a server started a moment
    later does not find its port taken by somebody's client socket.
    """
    low, _ = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    for _attempt in range(200):
        first = random.randrange(10_000, low - count)
        sockets: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return list(range(first, first + count))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports found")


class LiveServer:
    """The app served by uvicorn on a loopback port in a background thread."""

    def __init__(self, app: FastAPI, port: int | None = None) -> None:
        # A port of its own, or a stopped server's (a restart, as the browser sees it).
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        # The server `gradeflow serve` and `gradeflow web` run.
        self.server = AppServer(config, app=app)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
async def live_server(settings: Settings, course_dir: Path) -> AsyncIterator[LiveServer]:
    await import_course_dir(settings, course_dir)
    with LiveServer(create_app(settings)) as server:
        yield server


# The sandboxes of the sandbox, attack, forgery and compatibility tests.


@pytest.fixture(scope="session")
def zygote_sandbox() -> Iterator[ZygoteSandbox]:
    """One secure sandbox for all tests; it is loop-agnostic, so each test's loop may use it."""
    reason = namespaces_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    sandbox = ZygoteSandbox(slots=2)
    yield sandbox
    asyncio.run(sandbox.close())


@pytest.fixture(params=["process", "zygote"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    if request.param == "process":
        return ProcessSandbox()
    zygote: ZygoteSandbox = request.getfixturevalue("zygote_sandbox")
    return zygote
