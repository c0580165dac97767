"""Database engine, session factory, declarative base and column types.

Services take an ``AsyncSession`` and never commit; the edge that owns the unit of
work (a request, a job handler, a CLI command) uses ``transaction()``. What must
happen once a change is committed (publish a job, purge a cache, wake a stream) a
service registers with ``after_commit()``. A session factory may also be given a
``WriteObserver``, told of every row a unit of work writes (ORM objects as they are
flushed, set-based INSERT, UPDATE and DELETE statements as they run), which is how
cached reads are purged without each service listing its purges.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import structlog
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, UOWTransaction
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util import await_
from sqlalchemy.util.concurrency import in_greenlet

from gradeflow.errors import Unavailable

log = structlog.get_logger(__name__)

# Ids are database integers: a larger number is no id of ours, refused as invalid
# input instead of overflowing the database's integer type. Rows' ids are INTEGER in
# PostgreSQL (32 bits: 2**63 - 1 passed SQLite and was a 500 on PostgreSQL, found by
# fuzzing through a services-mode web process); events' ids are BIGINT.
MAX_ID = 2**31 - 1
MAX_EVENT_ID = 2**63 - 1

AfterCommit = Callable[[], Awaitable[object]]
_AFTER_COMMIT = "gradeflow.after_commit"
# (session, table name, the ORM object written, the values of a row a set-based INSERT
# wrote (``observe_rows``), or None for a set-based statement)
WriteObserver = Callable[[Session, str, object | None], None]
_WRITE_OBSERVER = "gradeflow.write_observer"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type, so values are stored as naive UTC there and made
    aware again on the way out; comparisons in SQL stay correct because every stored
    value uses the same representation.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use gradeflow.db.utcnow()")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets page reads proceed while a grader slot writes; busy_timeout turns
    # brief write contention into a wait instead of "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _begin_before_savepoint(connection: Connection, _name: str | None) -> None:
    # The driver begins a transaction only before an INSERT, UPDATE or DELETE, so a
    # SAVEPOINT sent first would begin one itself, and badly: releasing it commits the
    # unit of work half-way, and it is deferred, so a read in it followed by a write
    # fails at once with "database is locked" if another connection wrote in between
    # (busy_timeout does not cover that upgrade). Our savepoints guard writes: begin
    # the unit's transaction as a writer, which waits its turn instead.
    driver = connection.connection.driver_connection
    if driver is not None and not driver.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _roll_back_before_terminating(
    _dbapi_connection: Any, record: Any, _reason: BaseException | None
) -> None:
    # SQLAlchemy terminates the connection of a task cancelled mid-statement (a stop's
    # grader slot or sweeper). SQLite defers closing a connection while a cursor still
    # holds a statement (the cancelled task's traceback keeps it), and the deferred one
    # keeps its transaction: a write lock nobody would release, so the next writer (the
    # stop's release of a check) waited out busy_timeout. Roll back first, on the
    # connection's thread after the statement in flight; shielded, so that a second
    # cancellation cannot skip it.
    driver = record.driver_connection
    if driver is None or not in_greenlet():
        return  # garbage collection: no IO here, and the connection is dropped as is
    try:
        await_(asyncio.shield(driver.rollback()))
    except asyncio.CancelledError:
        # Cancelled again while waiting: the rollback goes on, and the close SQLAlchemy
        # queues next runs after it. Raised from here, it would skip that close, and the
        # open connection's thread would hold the process at exit. The task is already
        # unwinding from the first cancellation.
        pass
    except Exception as exc:  # the close follows anyway
        log.warning("db.rollback_before_close_failed", error=repr(exc))


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        event.listen(engine.sync_engine, "savepoint", _begin_before_savepoint)
        event.listen(engine.sync_engine, "invalidate", _roll_back_before_terminating)
        return engine
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=5
    )
    event.listen(engine.sync_engine, "do_connect", _connect_or_unavailable)
    event.listen(engine.sync_engine, "checkout", _ping_on_checkout)
    return engine


def _ping_on_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Drop a pooled connection that died (a database restart) before it is used, so
    the process recovers without being restarted itself: the pool replaces it.

    SQLAlchemy's ``pool_pre_ping`` does this with three round trips on asyncpg
    (``BEGIN``, the ping, ``ROLLBACK``: kept for pgbouncer's transaction mode, which we
    do not use); a simple query outside a transaction is one. A submit's result
    crosses four checkouts (intake, claim, record, the stream's read).
    """
    try:
        await_(record.driver_connection.execute("SELECT 1"))
    except Exception as exc:  # any failure: this connection is not to be used
        raise DisconnectionError(f"a pooled connection failed its ping: {exc!r}") from exc


def _connect_or_unavailable(
    dialect: Dialect, _record: Any, cargs: list[Any], cparams: dict[str, Any]
) -> Any:
    # asyncpg raises a bare OSError when the server cannot be reached, which
    # SQLAlchemy passes through unwrapped; naming it here keeps every other
    # OSError an ordinary bug (500) instead of "the database is down" (503).
    try:
        return dialect.connect(*cargs, **cparams)
    except (OSError, TimeoutError) as exc:
        raise Unavailable("The database is unavailable; try again in a moment.") from exc


def create_session_factory(
    engine: AsyncEngine, *, on_write: WriteObserver | None = None
) -> async_sessionmaker[AsyncSession]:
    info = {_WRITE_OBSERVER: on_write} if on_write is not None else None
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


@event.listens_for(Session, "after_flush")
def _observe_flush(session: Session, _flush: UOWTransaction) -> None:
    observer: WriteObserver | None = session.info.get(_WRITE_OBSERVER)
    if observer is None:
        return
    # After a flush these still list what it wrote (SQLAlchemy resets them later).
    for instance in (*session.new, *session.dirty, *session.deleted):
        table = getattr(type(instance), "__tablename__", None)
        if table is not None:
            observer(session, table, instance)


@event.listens_for(Session, "do_orm_execute")
def _observe_statement(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    observer: WriteObserver | None = state.session.info.get(_WRITE_OBSERVER)
    table = getattr(state.statement, "table", None)
    if observer is not None and table is not None:
        observer(state.session, str(table.name), None)


def observe_rows(session: AsyncSession, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Tell the write observer the values of rows that a set-based INSERT wrote to
    ``table`` (the statement alone says only which table)."""
    observer: WriteObserver | None = session.info.get(_WRITE_OBSERVER)
    if observer is not None:
        for row in rows:
            observer(session.sync_session, table, row)


def after_commit(session: AsyncSession | Session, hook: AfterCommit) -> None:
    """Run ``hook`` once the unit of work of ``session`` has committed; never on rollback.

    Hooks run in the order they were registered, each exactly once, before
    ``transaction()`` returns; a hook that fails is logged and the others still run,
    since the change they follow is committed already.
    """
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


def dialect_insert(session: AsyncSession) -> Callable[..., Any]:
    """The database's own INSERT, which has ON CONFLICT (``on_conflict_do_nothing``,
    ``on_conflict_do_update``): for a row two requests may insert at once."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit when the block succeeds, roll back when it raises.

    After the commit, the hooks that services registered with ``after_commit()``.
    """
    follow_ups: list[AfterCommit] = []
    async with unit_of_work(factory, follow_ups) as session:
        yield session
    await run_follow_ups(follow_ups)


@asynccontextmanager
async def savepoint(session: AsyncSession) -> AsyncIterator[None]:
    """A change that may be refused, inside the unit of work of ``session``: when the
    block raises, what it wrote is rolled back to a savepoint and the ``after_commit``
    hooks it registered are dropped, while the unit's transaction goes on, so a page
    can show the refusal (reading what it needs) in the same unit of work.

    ``session.rollback()`` is no way to refuse there: it ends the transaction of the
    unit's ``session.begin()``, and the next statement fails with "Can't operate on
    closed transaction inside context manager" (a 500 instead of the refusal). Writes
    the block observed may still purge cached reads: a purge too many costs a read.
    """
    registered = len(session.info.get(_AFTER_COMMIT, ()))
    try:
        async with session.begin_nested():
            yield
    except BaseException:
        # Follow-ups of a rolled-back change (a job for a row that is not there) are not
        # for the unit's commit to run.
        del session.info.get(_AFTER_COMMIT, [])[registered:]
        raise


@asynccontextmanager
async def single_read(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for one read statement. One statement sees one snapshot, so on
    PostgreSQL it runs outside a transaction: no BEGIN and ROLLBACK round trips around
    it (SQLite's driver begins none for a read anyway). Not for writes."""
    async with factory() as session:
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


@asynccontextmanager
async def unit_of_work(
    factory: async_sessionmaker[AsyncSession], follow_ups: list[AfterCommit]
) -> AsyncIterator[AsyncSession]:
    """``transaction`` that leaves the hooks of a committed unit in ``follow_ups``, for
    a caller that has something to do between the commit and them (``run_follow_ups``)."""
    async with factory() as session:
        try:
            async with session.begin():
                yield session
        finally:
            hooks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT, [])
    follow_ups.extend(hooks)


async def run_follow_ups(hooks: list[AfterCommit]) -> None:
    """Run a committed unit's hooks in order; one that fails is logged, the rest still run."""
    for hook in hooks:
        try:
            await hook()
        except Exception:
            log.exception("db.after_commit_failed", hook=getattr(hook, "__qualname__", repr(hook)))


# SQLSTATE classes 08 (connection exception) and 57 (operator intervention: "terminating
# connection due to administrator command", "the database system is starting up").
# asyncpg's errors of these classes reach SQLAlchemy as a plain DBAPIError, not an
# OperationalError: a PostgreSQL restart answered 500 until this (bench/chaos.py).
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unreachable or restarting (worth a retry),
    rather than that a statement was wrong."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return exc.connection_invalidated or (
        isinstance(sqlstate, str) and sqlstate[:2] in UNAVAILABLE_SQLSTATE_CLASSES
    )
