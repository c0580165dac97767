"""SQLite hands out a deleted newest row's id again unless the table is AUTOINCREMENT:
submissions (a student deletes their newest) and events (pruning may empty the table)
get it, so an id names one row for ever, as PostgreSQL's sequences do already.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("submissions", "events")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        # Rebuilt (env.py turns foreign keys off meanwhile); the copied rows set
        # sqlite_sequence to their max id.
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
