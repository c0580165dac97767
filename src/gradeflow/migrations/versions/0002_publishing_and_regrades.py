"""Publishing state and regrade generations on submissions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD_PENDING = "status IN ('queued', 'running')"
NEW_PENDING = "status IN ('queued', 'running') AND regrading = false"


def _pending_index(batch_op, predicate: str) -> None:  # type: ignore[no-untyped-def]
    batch_op.create_index(
        "uq_submissions_one_pending_per_user",
        ["user_id"],
        unique=True,
        sqlite_where=sa.text(predicate),
        postgresql_where=sa.text(predicate),
    )


def upgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("generation", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("regrading", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch_op.drop_index("uq_submissions_one_pending_per_user")
        _pending_index(batch_op, NEW_PENDING)
    # Rows that existed before were published by the in-process queue.
    op.execute("UPDATE submissions SET published_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index("uq_submissions_one_pending_per_user")
        _pending_index(batch_op, OLD_PENDING)
        batch_op.drop_column("regrading")
        batch_op.drop_column("generation")
        batch_op.drop_column("published_at")
