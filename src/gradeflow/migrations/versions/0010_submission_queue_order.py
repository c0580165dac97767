"""Submissions keep when their job joined the queue (``queued_at``), indexed for the
interactive queue, so queue positions follow the order graders claim in.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INTERACTIVE_QUEUE = "status = 'queued' AND regrading = false"


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
    # The best guess for rows already there: when their job was last published.
    op.execute("UPDATE submissions SET queued_at = COALESCE(published_at, created_at)")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.alter_column("queued_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index(
            "ix_submissions_interactive_queue",
            ["queued_at", "id"],
            unique=False,
            sqlite_where=sa.text(INTERACTIVE_QUEUE),
            postgresql_where=sa.text(INTERACTIVE_QUEUE),
        )


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_submissions_interactive_queue")
        batch_op.drop_column("queued_at")
