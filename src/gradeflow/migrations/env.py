"""Alembic environment: runs migrations over the async engine of the configured URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from gradeflow.accounts import models as _accounts  # noqa: F401  (tables for autogenerate)
from gradeflow.courses import models as _courses  # noqa: F401
from gradeflow.db import Base, create_engine
from gradeflow.events import models as _events  # noqa: F401
from gradeflow.grades import models as _grades  # noqa: F401
from gradeflow.grading import models as _grading  # noqa: F401

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a table: it copies it, drops the old one and renames
        # the copy. With foreign keys on, that drop deletes the table's rows first and
        # so fires ON DELETE CASCADE and SET NULL in every table referring to it (0010
        # emptied preview_results so). SQLite's own recipe for schema changes: keys off
        # (outside any transaction), then foreign_key_check before the commit.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migrations left rows with broken references: {broken}")


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


url = context.config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("sqlalchemy.url is not set")
if context.is_offline_mode():
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async(url))
