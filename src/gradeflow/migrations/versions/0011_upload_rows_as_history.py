"""An applied upload's staged rows are its history; grades carry the position of their last change.

- ``grade_upload_rows`` is no longer scratch only: the rows of an applied upload stay,
  with the values they replaced (``old_value``, ``old_letter``, ``old_comment``; NULL
  old value: the grade did not exist), as that upload's history. It becomes a logged
  table on PostgreSQL, and its key (upload, file row) becomes an index by student
  (upload, student), which is what history reads look up (a student has a few rows
  per upload; the assessment is filtered from them).
- ``grade_uploads.history_seq``: where an applied upload's changes stand in the order
  of all changes (one value of the history sequence for all of them).
- ``grades.change_seq``: the position of the cell's last change (the stale check and a
  revert's changed-since test read it instead of joining the whole history).
- SQLite: ``grade_changes`` gets AUTOINCREMENT, so its ids come from
  ``sqlite_sequence``, from which an upload takes its position too (PostgreSQL: the
  table's sequence). One sequence orders hand changes, reverts and uploads.
- Existing data: each applied upload's ``grade_changes`` rows (reason ``upload``)
  move into ``grade_upload_rows`` (file rows numbered in their order), the upload's
  ``history_seq`` is its newest change's id, and every grade's ``change_seq`` the id
  of its cell's newest change, so tokens recorded before stay valid.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

STUDENT_INDEX = "ix_grade_upload_rows_student"

MOVE_UPLOAD_HISTORY = """
INSERT INTO grade_upload_rows (upload_id, file_row, user_id, assessment, value, letter,
    comment, old_value, old_letter, old_comment)
SELECT upload_id, 1 + row_number() OVER (PARTITION BY upload_id ORDER BY id), user_id,
    assessment, new_value, new_letter, new_comment, old_value, old_letter, old_comment
FROM grade_changes WHERE reason = 'upload' AND upload_id IS NOT NULL
"""
UPLOAD_POSITIONS = """
UPDATE grade_uploads SET history_seq = (
    SELECT max(id) FROM grade_changes
    WHERE grade_changes.upload_id = grade_uploads.id AND grade_changes.reason = 'upload'
)
"""
CELL_POSITIONS = """
UPDATE grades SET change_seq = (
    SELECT max(id) FROM grade_changes
    WHERE grade_changes.course_id = grades.course_id
      AND grade_changes.user_id = grades.user_id
      AND grade_changes.assessment = grades.assessment
)
"""
MOVED = "DELETE FROM grade_changes WHERE reason = 'upload' AND upload_id IS NOT NULL"

RESTORE_UPLOAD_HISTORY = """
INSERT INTO grade_changes (course_id, user_id, assessment, old_value, old_letter,
    old_comment, new_value, new_letter, new_comment, changed_by_id, changed_at, upload_id,
    reason)
SELECT u.course_id, r.user_id, r.assessment, r.old_value, r.old_letter, r.old_comment,
    r.value, r.letter, coalesce(r.comment, r.old_comment, ''), u.uploaded_by_id,
    coalesce(u.finished_at, u.created_at), u.id, 'upload'
FROM grade_upload_rows r JOIN grade_uploads u ON u.id = r.upload_id
WHERE u.history_seq IS NOT NULL
ORDER BY u.history_seq, r.file_row
"""
FORGET_UPLOAD_HISTORY = (
    "DELETE FROM grade_upload_rows WHERE upload_id IN "
    "(SELECT id FROM grade_uploads WHERE history_seq IS NOT NULL)"
)


def _on_postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    postgresql = _on_postgresql()
    if postgresql:
        op.execute("ALTER TABLE grade_upload_rows SET LOGGED")
    else:
        # Rebuilt with AUTOINCREMENT; the copied rows set sqlite_sequence to their max id.
        with op.batch_alter_table(
            "grade_changes", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    with op.batch_alter_table("grade_upload_rows", schema=None) as batch_op:
        batch_op.drop_constraint("pk_grade_upload_rows", type_="primary")
        batch_op.add_column(sa.Column("old_value", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("old_letter", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("old_comment", sa.Text(), nullable=True))
    op.create_index(STUDENT_INDEX, "grade_upload_rows", ["upload_id", "user_id"])
    with op.batch_alter_table("grade_uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("history_seq", sa.BigInteger(), nullable=True))
    # A batch operation may rebuild ``grades`` on SQLite, which its reference triggers
    # (0009) do not survive: they are dropped first and created again after.
    _sqlite_grade_triggers(create=False)
    with op.batch_alter_table("grades", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), nullable=True))
    _sqlite_grade_triggers(create=True)
    op.execute(MOVE_UPLOAD_HISTORY)
    op.execute(UPLOAD_POSITIONS)
    op.execute(CELL_POSITIONS)
    op.execute(MOVED)


def downgrade() -> None:
    postgresql = _on_postgresql()
    op.execute(RESTORE_UPLOAD_HISTORY)
    op.execute(FORGET_UPLOAD_HISTORY)
    _sqlite_grade_triggers(create=False)
    with op.batch_alter_table("grades", schema=None) as batch_op:
        batch_op.drop_column("change_seq")
    _sqlite_grade_triggers(create=True)
    with op.batch_alter_table("grade_uploads", schema=None) as batch_op:
        batch_op.drop_column("history_seq")
    op.drop_index(STUDENT_INDEX, table_name="grade_upload_rows")
    with op.batch_alter_table("grade_upload_rows", schema=None) as batch_op:
        batch_op.drop_column("old_comment")
        batch_op.drop_column("old_letter")
        batch_op.drop_column("old_value")
        batch_op.create_primary_key("pk_grade_upload_rows", ["upload_id", "file_row"])
    if postgresql:
        op.execute("ALTER TABLE grade_upload_rows SET UNLOGGED")


def _sqlite_grade_triggers(*, create: bool) -> None:
    """Create or drop 0009's reference triggers of ``grades`` (SQLite only)."""
    if _on_postgresql():
        return
    from importlib import import_module

    audit_log = import_module("gradeflow.migrations.versions.0009_grade_history_audit_log")
    if create:
        for statement in audit_log.SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        for statement in audit_log.SQLITE_DROPS:
            op.execute(statement.replace("DROP TRIGGER", "DROP TRIGGER IF EXISTS"))
