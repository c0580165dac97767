"""Grade history as an audit log, grades' references checked per statement; reverts queued.

- ``grade_changes`` loses its three foreign keys (course, user, author) and
  ``grades`` the one on its audit column ``updated_by_id``: each cost a per-row
  check (~4 s per million rows) on the import's apply. The ids written there are
  validated set-based by the apply instead (docs/architecture.md, "Grade-file
  imports").
- ``grades`` keeps its references to users and courses, checked per statement instead
  of per row: triggers that check (and lock, as a foreign key would) every distinct id
  a statement wrote, and delete a user's or course's grades with it (the foreign keys'
  ``ON DELETE CASCADE``). PostgreSQL: statement-level triggers over transition tables;
  SQLite: row triggers (in-process, as cheap as its own foreign keys). A later batch
  migration that rebuilds ``users``, ``courses`` or ``grades`` on SQLite must create
  them again.
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
GRADE_KEYS = (
    ("fk_grades_course_id_courses", "course_id", "courses"),
    ("fk_grades_user_id_users", "user_id", "users"),
)

POSTGRES_TRIGGERS = (
    """
    CREATE FUNCTION grades_check_references() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        users_named integer[];
        courses_named integer[];
        locked integer;
    BEGIN
        -- What a foreign key does per row, once per statement: one pass over the
        -- written rows for the distinct ids, then lock those users and courses (so they
        -- are not deleted before this commits) and refuse the statement if any of them
        -- does not exist (fewer rows locked than named).
        SELECT array_agg(DISTINCT user_id), array_agg(DISTINCT course_id)
            INTO users_named, courses_named FROM written;
        PERFORM 1 FROM users WHERE id = ANY(users_named) ORDER BY id FOR KEY SHARE;
        GET DIAGNOSTICS locked = ROW_COUNT;
        IF locked <> coalesce(cardinality(users_named), 0) THEN
            RAISE EXCEPTION 'a grade names a user that does not exist'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        PERFORM 1 FROM courses WHERE id = ANY(courses_named) ORDER BY id FOR KEY SHARE;
        GET DIAGNOSTICS locked = ROW_COUNT;
        IF locked <> coalesce(cardinality(courses_named), 0) THEN
            RAISE EXCEPTION 'a grade names a course that does not exist'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER grades_references_inserted AFTER INSERT ON grades "
    "REFERENCING NEW TABLE AS written FOR EACH STATEMENT "
    "EXECUTE FUNCTION grades_check_references()",
    "CREATE TRIGGER grades_references_updated AFTER UPDATE ON grades "
    "REFERENCING NEW TABLE AS written FOR EACH STATEMENT "
    "EXECUTE FUNCTION grades_check_references()",
    """
    CREATE FUNCTION grades_of_deleted_users() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM grades WHERE user_id IN (SELECT id FROM deleted);
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER users_delete_grades AFTER DELETE ON users "
    "REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT "
    "EXECUTE FUNCTION grades_of_deleted_users()",
    """
    CREATE FUNCTION grades_of_deleted_courses() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM grades WHERE course_id IN (SELECT id FROM deleted);
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER courses_delete_grades AFTER DELETE ON courses "
    "REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT "
    "EXECUTE FUNCTION grades_of_deleted_courses()",
)
POSTGRES_DROPS = (
    "DROP TRIGGER courses_delete_grades ON courses",
    "DROP FUNCTION grades_of_deleted_courses()",
    "DROP TRIGGER users_delete_grades ON users",
    "DROP FUNCTION grades_of_deleted_users()",
    "DROP TRIGGER grades_references_updated ON grades",
    "DROP TRIGGER grades_references_inserted ON grades",
    "DROP FUNCTION grades_check_references()",
)
_SQLITE_MISSING = (
    "NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id) "
    "OR NOT EXISTS (SELECT 1 FROM courses WHERE id = NEW.course_id)"
)
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER grades_references_inserted BEFORE INSERT ON grades "
    f"WHEN {_SQLITE_MISSING} BEGIN "
    "SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: a grade names a user or course "
    "that does not exist'); END",
    f"CREATE TRIGGER grades_references_updated BEFORE UPDATE OF user_id, course_id ON grades "
    f"WHEN {_SQLITE_MISSING} BEGIN "
    "SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: a grade names a user or course "
    "that does not exist'); END",
    "CREATE TRIGGER users_delete_grades AFTER DELETE ON users "
    "BEGIN DELETE FROM grades WHERE user_id = OLD.id; END",
    "CREATE TRIGGER courses_delete_grades AFTER DELETE ON courses "
    "BEGIN DELETE FROM grades WHERE course_id = OLD.id; END",
)
SQLITE_DROPS = (
    "DROP TRIGGER courses_delete_grades",
    "DROP TRIGGER users_delete_grades",
    "DROP TRIGGER grades_references_updated",
    "DROP TRIGGER grades_references_inserted",
)


def _on_postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("grade_changes", schema=None) as batch_op:
        for name, _, _, _ in HISTORY_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
    with op.batch_alter_table("grades", schema=None) as batch_op:
        batch_op.drop_constraint(GRADE_AUTHOR_KEY, type_="foreignkey")
        for name, _, _ in GRADE_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
    for statement in POSTGRES_TRIGGERS if _on_postgresql() else SQLITE_TRIGGERS:
        op.execute(statement)
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
    for statement in POSTGRES_DROPS if _on_postgresql() else SQLITE_DROPS:
        op.execute(statement)
    with op.batch_alter_table("grades", schema=None) as batch_op:
        batch_op.create_foreign_key(
            GRADE_AUTHOR_KEY, "users", ["updated_by_id"], ["id"], ondelete="SET NULL"
        )
        for name, column, table in GRADE_KEYS:
            batch_op.create_foreign_key(name, table, [column], ["id"], ondelete="CASCADE")
    with op.batch_alter_table("grade_changes", schema=None) as batch_op:
        for name, column, table, ondelete in HISTORY_KEYS:
            batch_op.create_foreign_key(name, table, [column], ["id"], ondelete=ondelete)
