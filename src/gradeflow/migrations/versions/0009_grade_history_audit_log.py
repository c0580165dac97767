"""Grade history as an audit log without foreign keys; reverts of uploads as queued jobs.

- ``grade_changes`` loses its three foreign keys (course, user, author) and
  ``grades`` the one on its audit column ``updated_by_id``: each cost a per-row
  check (~4 s per million rows) on the import's apply. The ids written there are
  validated set-based by the apply instead (docs/architecture.md, "Grade-file
  imports").
- ``grade_uploads`` gains the state of a revert requested of it (``revert_status``,
  ``revert_force``, ``revert_requested_at``): a revert runs in an import slot now.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

HISTORY_KEYS = (
    ("fk_grade_changes_course_id_courses", "course_id", "courses", "CASCADE"),
    ("fk_grade_changes_user_id_users", "user_id", "users", "CASCADE"),
    ("fk_grade_changes_changed_by_id_users", "changed_by_id", "users", "SET NULL"),
)
GRADE_AUTHOR_KEY = "fk_grades_updated_by_id_users"


def upgrade() -> None:
    with op.batch_alter_table("grade_changes", schema=None) as batch_op:
        for name, _, _, _ in HISTORY_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
    with op.batch_alter_table("grades", schema=None) as batch_op:
        batch_op.drop_constraint(GRADE_AUTHOR_KEY, type_="foreignkey")
    with op.batch_alter_table("grade_uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revert_status", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("revert_force", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("revert_requested_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("grade_uploads", schema=None) as batch_op:
        batch_op.drop_column("revert_requested_at")
        batch_op.drop_column("revert_force")
        batch_op.drop_column("revert_status")
    with op.batch_alter_table("grades", schema=None) as batch_op:
        batch_op.create_foreign_key(
            GRADE_AUTHOR_KEY, "users", ["updated_by_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("grade_changes", schema=None) as batch_op:
        for name, column, table, ondelete in HISTORY_KEYS:
            batch_op.create_foreign_key(name, table, [column], ["id"], ondelete=ondelete)
