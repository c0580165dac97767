"""Published assignments and the working copies authored in the browser or the API.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        # Every assignment so far was imported, its solution checked: published.
        batch_op.add_column(
            sa.Column("published", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    op.create_table(
        "assignment_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column(
            "check_status",
            sa.Enum(
                "queued",
                "running",
                "passed",
                "failed",
                "error",
                name="checkstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("check_result", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("job_published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_assignment_drafts_assignment_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_assignment_drafts_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_drafts")),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_assignment_drafts_assignment_id")),
    )


def downgrade() -> None:
    op.drop_table("assignment_drafts")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("published")
