"""The Alembic migrations on SQLite and PostgreSQL, and their agreement with the models."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from gradeflow.db import Base, create_engine
from gradeflow.migrate import alembic_config, upgrade_database

TABLES = {
    "users",
    "api_tokens",
    "sign_in_failures",
    "courses",
    "course_members",
    "assignments",
    "submissions",
    "events",
    "grades",
    "grade_changes",
    "assignment_drafts",
    "grade_uploads",
    "grade_upload_rows",
    "regrades",
    "preview_results",
    "alembic_version",
}


async def _inspect(url: str) -> tuple[set[str], list[object]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:

            def read(sync_connection):
                tables = set(inspect(sync_connection).get_table_names())
                context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                return tables, compare_metadata(context, Base.metadata)

            return await connection.run_sync(read)
    finally:
        await engine.dispose()


def test_migrations_create_the_schema_the_models_describe(database_url: str) -> None:
    tables, differences = asyncio.run(_inspect(database_url))
    assert tables == TABLES
    assert differences == []


def test_migrations_go_down_and_up_again(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")
    tables, _ = asyncio.run(_inspect(database_url))
    assert tables == {"alembic_version"}
    upgrade_database(database_url)
    upgrade_database(database_url)  # a second upgrade is a no-op
    tables, differences = asyncio.run(_inspect(database_url))
    assert tables == TABLES
    assert differences == []
