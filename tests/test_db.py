"""The unit of work: follow-ups registered with ``after_commit`` run once, after commit;
savepoints nest in it; a cancelled one leaves no lock behind; unavailable databases are
told from wrong statements."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import User
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.db import after_commit, database_unavailable, savepoint, transaction
from gradeflow.errors import Conflict
from tests.conftest import PG_ADMIN_DSN, StatementGate, sqlite_writable_now

Factory = async_sessionmaker[AsyncSession]


async def users(factory: Factory) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_follow_ups_run_once_in_order_after_the_commit(session_factory: Factory) -> None:
    seen: list[tuple[str, int]] = []

    async def follow_up(name: str) -> None:
        # What a follow-up sees must already be committed: another session reads it.
        seen.append((name, await users(session_factory)))

    async with transaction(session_factory) as session:
        await create_anonymous_user(session)
        after_commit(session, lambda: follow_up("first"))
        after_commit(session, lambda: follow_up("second"))
        assert seen == []
    assert seen == [("first", 1), ("second", 1)]
    async with transaction(session_factory) as session:
        await create_anonymous_user(session)
    assert seen == [("first", 1), ("second", 1)]  # hooks are not kept for the next unit


async def test_follow_ups_are_dropped_when_the_unit_of_work_rolls_back(
    session_factory: Factory,
) -> None:
    ran: list[str] = []

    async def follow_up() -> None:
        ran.append("ran")

    async def failing_unit_of_work() -> None:
        async with transaction(session_factory) as session:
            await create_anonymous_user(session)
            after_commit(session, follow_up)
            raise RuntimeError("the route failed")

    with pytest.raises(RuntimeError):
        await failing_unit_of_work()
    assert ran == []
    assert await users(session_factory) == 0


async def test_a_failing_follow_up_does_not_stop_the_others(session_factory: Factory) -> None:
    ran: list[str] = []

    async def broken() -> None:
        raise ConnectionError("cache down")

    async def fine() -> None:
        ran.append("fine")

    async with transaction(session_factory) as session:
        after_commit(session, broken)
        after_commit(session, fine)
    assert ran == ["fine"]


async def test_a_refused_change_in_a_savepoint_keeps_nothing_of_it_and_the_unit_goes_on(
    session_factory: Factory,
) -> None:
    ran: list[str] = []

    async def follow_up(name: str) -> None:
        ran.append(name)

    async def refused_change(session: AsyncSession) -> None:
        async with savepoint(session):
            await create_anonymous_user(session)
            after_commit(session, lambda: follow_up("refused"))
            raise Conflict("refused")

    async with transaction(session_factory) as session:
        kept = await create_anonymous_user(session)
        after_commit(session, lambda: follow_up("kept"))
        with pytest.raises(Conflict):
            await refused_change(session)
        # The unit's transaction is still open: the refusal can be shown from it.
        assert (await session.get_one(User, kept.id)).id == kept.id
        assert await session.scalar(select(func.count()).select_from(User)) == 1
    assert ran == ["kept"]
    assert await users(session_factory) == 1


async def test_a_savepoint_before_any_write_keeps_the_unit_of_work_whole(
    session_factory: Factory,
) -> None:
    async def failing_unit_of_work() -> None:
        async with transaction(session_factory) as session:
            async with session.begin_nested():
                await create_anonymous_user(session)
            await create_anonymous_user(session)
            raise RuntimeError("the route failed")

    with pytest.raises(RuntimeError):
        await failing_unit_of_work()
    # SQLite's driver once let the savepoint begin the transaction, and its release
    # committed the first user.
    assert await users(session_factory) == 0


async def test_a_read_then_a_write_in_a_savepoint_waits_for_another_writer(
    session_factory: Factory,
) -> None:
    async def another_writer() -> None:
        async with transaction(session_factory) as session:
            await create_anonymous_user(session)

    async with transaction(session_factory) as session, session.begin_nested():
        assert await session.scalar(select(func.count()).select_from(User)) == 0
        # Another connection writes between this unit's read and its write. A
        # deferred SQLite transaction failed its write at once ("database is
        # locked"); a writer's transaction makes the other one wait instead.
        other = asyncio.create_task(another_writer())
        await asyncio.wait({other}, timeout=1.0)
        await create_anonymous_user(session)
    await other
    assert await users(session_factory) == 2


@pytest.fixture
def sqlite_factory(session_factory: Factory) -> Factory:
    """``session_factory`` on SQLite only: what these tests check is SQLite's locking."""
    if session_factory.kw["bind"].dialect.name != "sqlite":
        pytest.skip("SQLite only")
    return session_factory


async def write_then_hold(factory: Factory, gate: StatementGate) -> None:
    """A unit of work that writes (SQLite's write lock is its own then) and is then held
    in a statement at ``gate``."""
    async with transaction(factory) as session:
        await create_anonymous_user(session)
        await gate.hold(session)


async def test_a_unit_of_work_cancelled_mid_statement_leaves_no_write_lock_behind(
    sqlite_factory: Factory,
) -> None:
    gate = StatementGate()
    task = asyncio.create_task(write_then_hold(sqlite_factory, gate))
    assert await gate.reached()
    task.cancel()  # as a stop cancels a grader slot or a sweeper mid-statement
    gate.open()
    with pytest.raises(asyncio.CancelledError) as cancelled:
        await task
    # The cancelled task's traceback still holds the statement's cursor here, as it does
    # while ``settle`` releases the job. SQLite defers closing a connection a cursor still
    # uses, and the deferred one kept its transaction: the next writer waited out
    # busy_timeout. Now another connection writes at once.
    assert sqlite_writable_now(str(sqlite_factory.kw["bind"].url))
    assert cancelled.value.__traceback__ is not None
    assert await users(sqlite_factory) == 0  # and the unit's write was rolled back


async def test_a_second_cancellation_while_rolling_back_still_closes_the_connection(
    sqlite_factory: Factory,
) -> None:
    gate = StatementGate()
    task = asyncio.create_task(write_then_hold(sqlite_factory, gate))
    assert await gate.reached()
    task.cancel()
    for _ in range(20):  # to the rollback, queued behind the statement at the gate
        await asyncio.sleep(0)
    task.cancel()  # a stop that gives up waiting, as asyncio.run does at its end
    gate.open()
    with pytest.raises(asyncio.CancelledError):
        await task
    engine = sqlite_factory.kw["bind"]
    # The connection was still terminated: none is left checked out of the pool, and
    # the driver's connection is closed (one left open keeps a thread that holds the
    # process at exit).
    assert engine.pool.checkedout() == 0
    with pytest.raises(ValueError, match=r"no active connection|closed"):  # aiosqlite
        await gate.driver.execute("SELECT 1")
    assert sqlite_writable_now(str(engine.url))
    assert await users(sqlite_factory) == 0


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "unavailable"),
    [
        ("57P01", True),  # terminating connection due to administrator command
        ("57P03", True),  # the database system is starting up
        ("08006", True),  # connection failure
        ("23505", False),  # unique violation: the statement, not the server
        ("42P01", False),  # undefined table
    ],
)
def test_a_restarting_database_is_told_from_a_wrong_statement(
    sqlstate: str, unavailable: bool
) -> None:
    error = DBAPIError("SELECT 1", None, _PgError(sqlstate))
    assert database_unavailable(error) is unavailable


@pytest.fixture
def postgres_factory(session_factory: Factory) -> Factory:
    """``session_factory`` on PostgreSQL only: what these tests check (a server that
    ends connections, the pool's ping) is PostgreSQL's."""
    if session_factory.kw["bind"].dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    return session_factory


@pytest.mark.postgres
async def test_a_pooled_connection_the_database_ended_is_replaced_at_checkout(
    postgres_factory: Factory,
) -> None:
    session_factory = postgres_factory
    async with session_factory() as session:
        ended = await session.scalar(text("SELECT pg_backend_pid()"))
    # Ended from outside while it waits in the pool, as a restart would.
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", ended)
    finally:
        await admin.close()
    async with session_factory() as session:  # the dead one fails its ping: replaced
        assert await session.scalar(text("SELECT pg_backend_pid()")) != ended


@pytest.mark.postgres
async def test_a_checkout_pings_with_one_statement_outside_a_transaction(
    postgres_factory: Factory,
) -> None:
    session_factory = postgres_factory
    async with session_factory() as session:
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
    sent: list[str] = []
    driver.add_query_logger(lambda record: sent.append(record.query))
    async with session_factory() as session:  # the same pooled connection
        assert await session.scalar(text("SELECT 41 + 1")) == 42
    # (Statements with parameters go through prepared statements, not logged here.)
    assert sent == ["SELECT 1", "BEGIN;", "ROLLBACK;"]
