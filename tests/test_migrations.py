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


LEGACY_HISTORY = [
    # An upload that created a grade and changed another, as 0009's apply wrote them,
    # then a revert row of another kind that stays where it is.
    "INSERT INTO users (id, email, role, created_at) VALUES "
    "(1, 't@example.org', 'teacher', '2026-01-01'), (2, 's@example.org', 'student', '2026-01-01')",
    "INSERT INTO courses (id, slug, title, description, created_at, updated_at) "
    "VALUES (1, 'c', 'C', '', '2026-01-01', '2026-01-01')",
    "INSERT INTO grade_uploads (id, course_id, uploaded_by_id, filename, size, sha256, dry_run, "
    "force, status, phase, rows_done, errors, errors_total, changes, changes_total, message, "
    "attempts, created_at, finished_at) VALUES (7, 1, 1, 'g.csv', 10, 'x', false, false, "
    "'applied', 'done', 2, '[]', 0, '[]', 2, '', 1, '2026-01-02', '2026-01-02')",
    "INSERT INTO grades (course_id, user_id, assessment, value, comment, updated_at) VALUES "
    "(1, 2, 'final', 80, 'ok', '2026-01-02'), (1, 2, 'quiz', 9, '', '2026-01-02'), "
    "(1, 2, 'exam', 5, '', '2026-01-03')",
    "INSERT INTO grade_changes (id, course_id, user_id, assessment, old_value, old_comment, "
    "new_value, new_comment, changed_by_id, changed_at, upload_id, reason) VALUES "
    "(10, 1, 2, 'final', NULL, NULL, 80, 'ok', 1, '2026-01-02', 7, 'upload'), "
    "(11, 1, 2, 'quiz', 4, '', 9, '', 1, '2026-01-02', 7, 'upload'), "
    "(12, 1, 2, 'exam', NULL, NULL, 5, '', 1, '2026-01-03', NULL, 'edit')",
]


async def _run(url: str, statements: list[str]) -> list[list[tuple[object, ...]]]:
    engine = create_engine(url)
    try:
        results: list[list[tuple[object, ...]]] = []
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.exec_driver_sql(statement)
                rows = result.all() if result.returns_rows else []
                results.append([tuple(row) for row in rows])
        return results
    finally:
        await engine.dispose()


def test_upgrading_moves_an_applied_uploads_history_into_its_kept_rows(
    database_url: str,
) -> None:
    command.downgrade(alembic_config(database_url), "0009")
    legacy = list(LEGACY_HISTORY)
    if database_url.startswith("postgresql"):  # the rows above name their ids
        legacy.append("SELECT setval(pg_get_serial_sequence('grade_changes', 'id'), 12)")
    asyncio.run(_run(database_url, legacy))
    upgrade_database(database_url)
    kept, positions, cells, left, _ = asyncio.run(
        _run(
            database_url,
            [
                "SELECT upload_id, file_row, user_id, assessment, value, comment, old_value, "
                "old_comment FROM grade_upload_rows ORDER BY file_row",
                "SELECT id, history_seq FROM grade_uploads",
                "SELECT assessment, change_seq FROM grades ORDER BY assessment",
                "SELECT id, reason FROM grade_changes",
                "INSERT INTO grade_changes (course_id, user_id, assessment, changed_at, reason) "
                "VALUES (1, 2, 'exam', '2026-01-04', 'edit')",
            ],
        )
    )
    assert kept == [
        (7, 2, 2, "final", 80.0, "ok", None, None),
        (7, 3, 2, "quiz", 9.0, "", 4.0, ""),
    ]
    assert positions == [(7, 11)]
    assert cells == [("exam", 12), ("final", 10), ("quiz", 11)]
    assert left == [(12, "edit")]
    # Ids keep growing past the moved rows' (SQLite: AUTOINCREMENT keeps the counter).
    (newest,) = asyncio.run(_run(database_url, ["SELECT max(id) FROM grade_changes"]))
    assert newest[0][0] > 12


REFERRING_ROWS = [
    # Two submissions, the second reusing the first's result, and a regrade preview's
    # result of the first: rows that refer to ``submissions``, which 0010 and 0012
    # rebuild on SQLite.
    "INSERT INTO users (id, email, role, created_at) VALUES (1, 's@example.org', 'student', "
    "'2026-01-01')",
    "INSERT INTO courses (id, slug, title, description, created_at, updated_at) "
    "VALUES (1, 'c', 'C', '', '2026-01-01', '2026-01-01')",
    'INSERT INTO assignments (id, course_id, slug, title, "order", points, scoring, module, '
    "time_limit_s, memory_mb, handout_md, starter, tests, solution, support_files, test_ids, "
    "revision, created_at, updated_at) VALUES (1, 1, 'a', 'A', 1, 10, 'all_or_nothing', 'm', "
    "5, 256, '', '', '', '', '{}', '[]', 'r', '2026-01-01', '2026-01-01')",
    "INSERT INTO submissions (id, user_id, assignment_id, code, code_hash, assignment_revision, "
    "status, attempts, created_at, reused_from_id) VALUES "
    "(1, 1, 1, 'x', 'h', 'r', 'passed', 1, '2026-01-01', NULL), "
    "(2, 1, 1, 'x', 'h', 'r', 'passed', 0, '2026-01-02', 1)",
    "INSERT INTO regrades (id, assignment_id, kind, status, assignment_revision, total, "
    "created_at) VALUES (1, 1, 'preview', 'ready', 'r', 1, '2026-01-03')",
    "INSERT INTO preview_results (id, preview_id, submission_id, old_tests, status, attempts, "
    "created_at) VALUES (1, 1, 1, '{}', 'passed', 1, '2026-01-03')",
]


def test_upgrading_keeps_the_rows_that_refer_to_a_rebuilt_table(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "0009")
    asyncio.run(_run(database_url, REFERRING_ROWS))
    upgrade_database(database_url)
    reused, previews = asyncio.run(
        _run(
            database_url,
            [
                "SELECT id, reused_from_id FROM submissions ORDER BY id",
                "SELECT id, submission_id FROM preview_results",
            ],
        )
    )
    assert reused == [(1, None), (2, 1)]
    assert previews == [(1, 1)]


NEW_SUBMISSION = (
    "INSERT INTO submissions (user_id, assignment_id, code, code_hash, assignment_revision, "
    "status, attempts, created_at, queued_at) VALUES (1, 1, 'x', 'h', 'r', 'passed', 1, "
    "'2026-01-04', '2026-01-04') RETURNING id"
)
DELETE_NEWEST_SUBMISSION = "DELETE FROM submissions WHERE id = (SELECT max(id) FROM submissions)"
NEW_EVENT = (
    "INSERT INTO events (user_id, type, payload, created_at) VALUES (1, 'e', '{}', "
    "'2026-01-04') RETURNING id"
)


def test_the_id_of_a_deleted_newest_row_is_not_handed_out_again(database_url: str) -> None:
    asyncio.run(_run(database_url, REFERRING_ROWS[:3]))
    (_, [(newest,)], _, [(next_one,)]) = asyncio.run(
        _run(
            database_url,
            [NEW_SUBMISSION, NEW_SUBMISSION, DELETE_NEWEST_SUBMISSION, NEW_SUBMISSION],
        )
    )
    assert next_one > newest
    ([(last_event,)], _, [(next_event,)]) = asyncio.run(
        _run(database_url, [NEW_EVENT, "DELETE FROM events", NEW_EVENT])  # pruned empty
    )
    assert next_event > last_event
