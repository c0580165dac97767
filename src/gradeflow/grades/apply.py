"""The database side of an import: staging rows, the checks over them, and applying or
reverting a whole upload with set-based statements.

Rows are staged in batches (COPY on PostgreSQL, executemany on SQLite), each batch
in a transaction that also writes the progress and is guarded by the import's
lease. Duplicates are found by a GROUP BY over the staged rows, not by a set in
memory. Applying is one transaction: lock the course (concurrent uploads to one
course are serialised here), check that the cells are as the dry run (or the
earlier upload of the same file) left them, write history rows for the cells that
change, then upsert the grades — each one ``INSERT ... SELECT``, no per-row trips.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

from gradeflow.accounts.models import User
from gradeflow.courses.models import Course, CourseMember, MemberRole
from gradeflow.db import UTCDateTime, utcnow
from gradeflow.grades.imports import KEPT, leased_by, record_upload_event, revert_leased_by
from gradeflow.grades.models import (
    Grade,
    GradeChange,
    GradeUpload,
    RevertStatus,
    UploadStatus,
    grade_upload_rows,
)
from gradeflow.grades.rows import RowError
from gradeflow.grading.outbox import Outbox

rows = grade_upload_rows
STAGED_COLUMNS = ("upload_id", "file_row", "user_id", "assessment", "value", "letter", "comment")


class LeaseLost(Exception):
    """Another worker took this import over; this one stops and changes nothing more."""


# A staged row: upload id, file row, user id, assessment, value, letter, comment.
StagedRecord = tuple[int, int, int, str, float | None, str | None, str | None]


async def roster_keys(session: AsyncSession, *, course_id: int) -> dict[str, int]:
    """Email (lowercased) and student number → user id, for the course's enrolled students.

    Bounded by the course's size, not the file's.
    """
    result = await session.execute(
        select(User.id, User.email, User.student_number)
        .join(CourseMember, CourseMember.user_id == User.id)
        .where(CourseMember.course_id == course_id, CourseMember.role == MemberRole.student)
    )
    keys: dict[str, int] = {}
    for user_id, email, number in result:
        if email:
            keys[email.lower()] = user_id
        if number:
            keys[number] = user_id
    return keys


async def explain_unknown_students(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Of ``keys`` that matched no enrolled student, those that are somebody's account."""
    if not keys:
        return set()
    found = await session.execute(
        select(User.email, User.student_number).where(
            or_(User.email.in_(keys), User.student_number.in_(keys))
        )
    )
    known: set[str] = set()
    for email, number in found:
        known.update(value for value in (email, number) if value)
    return known


async def write_progress(
    session: AsyncSession,
    *,
    outbox: Outbox,
    upload_id: int,
    owner: str,
    phase: str,
    rows_done: int,
    rows_total: int | None,
    announce: bool,
) -> None:
    """Progress of a leased import, with a live event if ``announce``; LeaseLost if not ours."""
    values: dict[str, Any] = {"phase": phase, "rows_done": rows_done}
    if rows_total is not None:
        values["rows_total"] = rows_total
    written = await session.execute(
        update(GradeUpload)
        .where(leased_by(upload_id, owner))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(written, "rowcount", 0) != 1:
        raise LeaseLost()
    if announce:
        upload = await session.get_one(GradeUpload, upload_id, populate_existing=True)
        await record_upload_event(session, outbox, upload)


async def clear_staging(session: AsyncSession, *, upload_id: int) -> None:
    await session.execute(delete(rows).where(rows.c.upload_id == upload_id))


async def stage_rows(session: AsyncSession, *, records: list[StagedRecord]) -> None:
    """Add one batch of rows to the staging table (COPY on PostgreSQL)."""
    if not records:
        return
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await copy_staged(session, records=records)
        return
    await session.execute(
        insert(rows), [dict(zip(STAGED_COLUMNS, r, strict=True)) for r in records]
    )


async def copy_staged(
    session: AsyncSession, *, records: Iterable[StagedRecord] | AsyncIterable[StagedRecord]
) -> None:
    """COPY rows into the staging table as they come (PostgreSQL only)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(rows.name, records=records, columns=list(STAGED_COLUMNS))


async def relax_commit(session: AsyncSession) -> None:
    """This transaction's commit need not wait for the disk (PostgreSQL).

    Only for writes that a crash may lose: an import's progress count, which the
    restaging after a crash writes again. A later synchronous commit flushes it
    first, as the log is written in order.
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SET LOCAL synchronous_commit TO off"))


@asynccontextmanager
async def counts_session(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession | None]:
    """PostgreSQL: a session on one autocommit connection for an import's row counts.

    Written a thousand rows apart while a file is staged, each count is then one
    statement and one round trip (no BEGIN, no COMMIT, no SET LOCAL, no pool checkout),
    committed without waiting for the disk (see ``relax_commit``). On a loaded
    machine every round trip waits for the scheduler, and the four or five of a
    transaction of its own per count were most of the staging time. The setting is
    reset before the connection goes back to the pool (or the connection dropped).
    None on SQLite, whose counts go with the staged rows.
    """
    async with factory() as session:
        if session.bind is None or session.bind.dialect.name != "postgresql":
            yield None
            return
        connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        await session.execute(text("SET synchronous_commit TO off"))
        try:
            yield session
        finally:
            try:
                await session.execute(text("RESET synchronous_commit"))
            except Exception:
                # Never hand a connection that commits asynchronously to someone else.
                await connection.invalidate()
                raise


async def analyze_staging(session: AsyncSession) -> None:
    """Fresh statistics for the staged rows before the checks and the apply (PostgreSQL).

    The table fills and empties by a million rows at a time, so whatever autovacuum last
    saw is wrong; without this the plans of the GROUP BY and the joins depend on when it
    last ran (an empty table's count: a probe of the grades per staged row).
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text(f"ANALYZE {rows.name}"))


async def duplicate_errors(session: AsyncSession, *, upload_id: int) -> tuple[list[RowError], int]:
    """Rows that give the same student the same assessment twice (kept ones, and the count)."""
    groups = (
        select(
            rows.c.user_id,
            rows.c.assessment,
            func.min(rows.c.file_row).label("first"),
            func.max(rows.c.file_row).label("last"),
            func.count().label("times"),
        )
        .where(rows.c.upload_id == upload_id)
        .group_by(rows.c.user_id, rows.c.assessment)
        .having(func.count() > 1)
        .subquery()
    )
    total = int(await session.scalar(select(func.coalesce(func.sum(groups.c.times - 1), 0))) or 0)
    if total == 0:
        return [], 0
    found = await session.execute(
        select(groups.c.first, groups.c.last, groups.c.times, groups.c.assessment, User.email)
        .join(User, User.id == groups.c.user_id)
        .order_by(groups.c.first)
        .limit(KEPT)
    )
    errors = []
    for first, last, times, assessment, email in found:
        others = f" (and {times - 2} more)" if times > 2 else ""
        errors.append(
            RowError(
                first,
                "student",
                f"Rows {first} and {last}{others} both grade {email} for {assessment!r}; "
                "keep one of them.",
            )
        )
    return errors, total


async def staged_count(session: AsyncSession, *, upload_id: int) -> int:
    return int(await session.scalar(select(func.count()).where(rows.c.upload_id == upload_id)) or 0)


def _cell(course_id: int, model: Any) -> ColumnElement[bool]:
    """``model``'s row is the grade cell of the staged row."""
    return and_(
        model.course_id == course_id,
        model.user_id == rows.c.user_id,
        model.assessment == rows.c.assessment,
    )


def _changes_cell(course_id: int, *, with_comments: bool) -> ColumnElement[bool]:
    """The staged row would change its cell (new, or another value, letter or comment)."""
    differs = [
        Grade.id.is_(None),
        Grade.value.is_distinct_from(rows.c.value),
        Grade.letter.is_distinct_from(rows.c.letter),
    ]
    if with_comments:
        differs.append(Grade.comment.is_distinct_from(rows.c.comment))
    return or_(*differs)


async def state_token(session: AsyncSession, *, upload_id: int, course_id: int) -> int:
    """The newest history position over the cells the upload touches (0: none has history).

    A cell's last change is its grade's ``change_seq`` (uploads and reverts set it), or
    a ``grade_changes`` row (reverts, hand changes; a deleted grade leaves only that).
    """
    staged = rows.c.upload_id == upload_id
    graded = await session.scalar(
        select(func.max(Grade.change_seq))
        .select_from(rows.join(Grade, _cell(course_id, Grade)))
        .where(staged)
    )
    logged = await session.scalar(
        select(func.max(GradeChange.id))
        .select_from(rows.join(GradeChange, _cell(course_id, GradeChange)))
        .where(staged)
    )
    return max(int(graded or 0), int(logged or 0))


def _changed_after(course_id: int, position: Any) -> ColumnElement[bool]:
    """The staged row's cell changed after ``position`` of the history sequence."""
    return or_(
        exists(select(Grade.id).where(_cell(course_id, Grade), Grade.change_seq > position)),
        exists(
            select(GradeChange.id).where(_cell(course_id, GradeChange), GradeChange.id > position)
        ),
    )


async def changed_cells_since(
    session: AsyncSession, *, upload_id: int, course_id: int, token: int, with_comments: bool
) -> int:
    """How many of the upload's cells changed after ``token`` and would be overwritten.

    A cell changed since that holds what the file says already (changed and changed
    back, or changed to the file's value) loses nothing when the file is applied.
    """
    count = await session.scalar(
        select(func.count()).where(
            rows.c.upload_id == upload_id,
            _changed_after(course_id, literal(token)),
            ~_unchanged(course_id, with_comments=with_comments),
        )
    )
    return int(count or 0)


async def next_history_seq(session: AsyncSession) -> int:
    """A new position in the one sequence that orders every change of a grade.

    It is ``grade_changes``' id sequence, so hand changes, reverts and uploads are
    ordered together. PostgreSQL: ``nextval`` (never blocks, never rolled back).
    SQLite: the table's AUTOINCREMENT counter, moved on inside this write transaction.
    """
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        seq = await session.scalar(
            text("SELECT nextval(pg_get_serial_sequence('grade_changes', 'id'))")
        )
        return int(seq)
    moved = await session.execute(
        text(
            "UPDATE sqlite_sequence SET seq = max(seq, "
            "(SELECT coalesce(max(id), 0) FROM grade_changes)) + 1 WHERE name = 'grade_changes'"
        )
    )
    if getattr(moved, "rowcount", 0) != 1:
        await session.execute(
            text(
                "INSERT INTO sqlite_sequence (name, seq) "
                "SELECT 'grade_changes', coalesce(max(id), 0) + 1 FROM grade_changes"
            )
        )
    seq = await session.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = 'grade_changes'"))
    return int(seq)


def _change_view(
    email: str | None,
    number: str | None,
    assessment: str,
    old: float | None,
    old_letter: str | None,
    new: float | None,
    new_letter: str | None,
) -> dict[str, Any]:
    return {
        "student": email or number or "",
        "assessment": assessment,
        "old": old,
        "new": new,
        "old_letter": old_letter,
        "new_letter": new_letter,
    }


async def preview_changes(
    session: AsyncSession, *, upload_id: int, course_id: int, with_comments: bool
) -> tuple[list[dict[str, Any]], int]:
    """What applying the staged rows would change: the first ``KEPT`` changes and the count."""
    source = rows.join(User, User.id == rows.c.user_id).outerjoin(Grade, _cell(course_id, Grade))
    condition = and_(
        rows.c.upload_id == upload_id, _changes_cell(course_id, with_comments=with_comments)
    )
    total = int(
        await session.scalar(select(func.count()).select_from(source).where(condition)) or 0
    )
    found = await session.execute(
        select(
            User.email,
            User.student_number,
            rows.c.assessment,
            Grade.value,
            Grade.letter,
            rows.c.value,
            rows.c.letter,
        )
        .select_from(source)
        .where(condition)
        .order_by(rows.c.file_row)
        .limit(KEPT)
    )
    return [_change_view(*change) for change in found], total


async def recorded_changes(session: AsyncSession, *, upload_id: int) -> list[dict[str, Any]]:
    """The first ``KEPT`` changes an applied upload made, in the order of the file."""
    found = await session.execute(
        select(
            User.email,
            User.student_number,
            rows.c.assessment,
            rows.c.old_value,
            rows.c.old_letter,
            rows.c.value,
            rows.c.letter,
        )
        .join(User, User.id == rows.c.user_id)
        .where(rows.c.upload_id == upload_id)
        .order_by(rows.c.file_row)
        .limit(KEPT)
    )
    return [_change_view(*change) for change in found]


async def lock_course_grades(session: AsyncSession, *, course_id: int) -> None:
    """Serialise writers of one course's grades until this transaction ends.

    PostgreSQL: a row lock on the course. SQLite has one writer at a time already,
    and the import's first statement is a write, so it holds that lock from the start.
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(select(Course.id).where(Course.id == course_id).with_for_update())


@dataclass(frozen=True)
class ApplyOutcome:
    changes_total: int = 0
    token: int = 0
    stale_cells: int = 0  # > 0: refused, nothing written
    unenrolled_rows: int = 0  # > 0: refused, nothing written


async def unenrolled_rows(session: AsyncSession, *, upload_id: int, course_id: int) -> int:
    """Staged rows whose student is no longer enrolled in the course (one anti-join).

    The history has no foreign keys (an audit log, see the models), so the ids it is
    given are validated here, set-based, under the course lock: a student removed
    from the course since the file was read gets no grade and no history row.
    """
    enrolled = exists(
        select(CourseMember.user_id).where(
            CourseMember.course_id == course_id,
            CourseMember.user_id == rows.c.user_id,
            CourseMember.role == MemberRole.student,
        )
    )
    count = await session.scalar(
        select(func.count()).where(rows.c.upload_id == upload_id, ~enrolled)
    )
    return int(count or 0)


async def existing_user(session: AsyncSession, user_id: int | None) -> int | None:
    """``user_id`` if that account exists, else None: the author columns are plain ids."""
    if user_id is None:
        return None
    return await session.scalar(select(User.id).where(User.id == user_id))


def _unchanged(course_id: int, *, with_comments: bool) -> ColumnElement[bool]:
    """The staged row's cell has a grade that is as the row says already."""
    same = [
        _cell(course_id, Grade),
        Grade.value.is_not_distinct_from(rows.c.value),
        Grade.letter.is_not_distinct_from(rows.c.letter),
    ]
    if with_comments:
        same.append(Grade.comment.is_not_distinct_from(rows.c.comment))
    return exists(select(Grade.id).where(*same))


async def apply_staged(
    session: AsyncSession,
    *,
    upload_id: int,
    owner: str,
    course_id: int,
    user_id: int | None,
    expected_token: int | None,
    with_comments: bool,
) -> ApplyOutcome:
    """Apply the staged rows in the caller's transaction; LeaseLost if the import is not ours.

    With ``expected_token`` the cells must still be as that state: otherwise nothing
    is written and the outcome counts the cells changed since.

    The staged rows that change a cell become the upload's history (the values they
    replace written beside them); the others are deleted. The grades are then written
    from them: an ``UPDATE ... FROM`` for cells that had a grade, a plain ``INSERT ...
    SELECT`` for new ones (the course lock keeps anyone else from creating them).
    """
    # First a write, guarded by the lease: it also takes SQLite's write lock at once.
    guarded = await session.execute(
        update(GradeUpload)
        .where(leased_by(upload_id, owner))
        .values(phase="applying")
        .execution_options(synchronize_session=False)
    )
    if getattr(guarded, "rowcount", 0) != 1:
        raise LeaseLost()
    await lock_course_grades(session, course_id=course_id)
    if expected_token is not None:
        current = await state_token(session, upload_id=upload_id, course_id=course_id)
        if current != expected_token:
            changed = await changed_cells_since(
                session,
                upload_id=upload_id,
                course_id=course_id,
                token=expected_token,
                with_comments=with_comments,
            )
            if changed:
                return ApplyOutcome(stale_cells=changed)
    unenrolled = await unenrolled_rows(session, upload_id=upload_id, course_id=course_id)
    if unenrolled:
        return ApplyOutcome(unenrolled_rows=unenrolled)
    staged = rows.c.upload_id == upload_id
    unchanged = _unchanged(course_id, with_comments=with_comments)
    if not await session.scalar(select(exists().where(staged, ~unchanged))):
        token = await state_token(session, upload_id=upload_id, course_id=course_id)
        await clear_staging(session, upload_id=upload_id)
        return ApplyOutcome(token=token)
    user_id = await existing_user(session, user_id)
    now = utcnow()
    seq = await next_history_seq(session)
    await session.execute(
        delete(rows).where(staged, unchanged).execution_options(synchronize_session=False)
    )
    # What each change replaces, kept beside it (every remaining row with a grade changes it).
    await session.execute(
        update(rows)
        .where(staged, _cell(course_id, Grade))
        .values(old_value=Grade.value, old_letter=Grade.letter, old_comment=Grade.comment)
        .execution_options(synchronize_session=False)
    )
    updates: dict[str, Any] = {
        "value": rows.c.value,
        "letter": rows.c.letter,
        "updated_by_id": literal(user_id, Integer()),
        "updated_at": literal(now, UTCDateTime()),
        "change_seq": literal(seq, BigInteger()),
    }
    if with_comments:
        updates["comment"] = func.coalesce(rows.c.comment, "")
    updated = await session.execute(
        update(Grade)
        .where(_cell(course_id, Grade), staged, rows.c.old_value.is_not(None))
        .values(**updates)
        .execution_options(synchronize_session=False)
    )
    inserted = await session.execute(
        _grades_from_rows(
            course_id,
            (rows.c.value, rows.c.letter, rows.c.comment),
            changed_by=(user_id, now, seq),
            where=(staged, rows.c.old_value.is_(None)),
        )
    )
    await session.execute(
        update(GradeUpload)
        .where(GradeUpload.id == upload_id)
        .values(history_seq=seq)
        .execution_options(synchronize_session=False)
    )
    changed = int(getattr(updated, "rowcount", 0) or 0) + int(getattr(inserted, "rowcount", 0) or 0)
    return ApplyOutcome(changes_total=changed, token=seq)


def _grades_from_rows(
    course_id: int,
    values: tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]],
    *,
    changed_by: tuple[int | None, datetime, int],
    where: tuple[ColumnElement[bool], ...],
) -> Insert:
    """Grades inserted from an upload's kept rows: ``values`` (value, letter, comment)
    are the new ones when applying, the replaced ones when reverting."""
    value, letter, comment = values
    user_id, now, seq = changed_by
    return insert(Grade).from_select(
        ["course_id", "user_id", "assessment", "value", "letter", "comment",
         "updated_by_id", "updated_at", "change_seq"],
        select(
            literal(course_id, Integer()),
            rows.c.user_id,
            rows.c.assessment,
            value,
            letter,
            func.coalesce(comment, ""),
            literal(user_id, Integer()),
            literal(now, UTCDateTime()),
            literal(seq, BigInteger()),
        ).where(*where),
    )  # fmt: skip


async def finish_upload(
    session: AsyncSession,
    *,
    outbox: Outbox,
    upload_id: int,
    owner: str,
    status: UploadStatus,
    message: str,
    errors: list[RowError] | None = None,
    errors_total: int = 0,
    changes: list[dict[str, Any]] | None = None,
    changes_total: int = 0,
    rows_total: int | None = None,
    token: int | None = None,
) -> None:
    """End a leased import in ``status``; LeaseLost (and nothing written) if not ours."""
    now = utcnow()
    values: dict[str, Any] = {
        "status": status,
        "phase": "done",
        "message": message,
        "errors": [e.to_dict() for e in sorted(errors or [], key=lambda e: e.row)][:KEPT],
        "errors_total": errors_total,
        "changes": (changes or [])[:KEPT],
        "changes_total": changes_total,
        "lease_owner": None,
        "lease_expires_at": None,
        "finished_at": now,
    }
    if rows_total is not None:
        values["rows_total"] = rows_total
        values["rows_done"] = rows_total
    if token is not None:
        values["state_token"] = token
    if status is UploadStatus.validated:
        values["validated_at"] = now
    done = await session.execute(
        update(GradeUpload)
        .where(leased_by(upload_id, owner))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        raise LeaseLost()
    upload = await session.get_one(GradeUpload, upload_id, populate_existing=True)
    await record_upload_event(session, outbox, upload)


@dataclass(frozen=True)
class RevertOutcome:
    reverted: int = 0  # cells put back
    changed_since: int = 0  # cells changed again after the upload
    refused: bool = False  # changed since and no force: nothing written


def _as_upload_left(course_id: int) -> ColumnElement[bool]:
    """The kept row's cell holds what its upload wrote: value, letter and comment.

    Without a comment column (a NULL comment) the upload kept the cell's comment, the
    one kept beside it; a grade it created got an empty one.
    """
    return exists(
        select(Grade.id).where(
            _cell(course_id, Grade),
            Grade.value.is_not_distinct_from(rows.c.value),
            Grade.letter.is_not_distinct_from(rows.c.letter),
            Grade.comment == func.coalesce(rows.c.comment, rows.c.old_comment, ""),
        )
    )


async def revert_cells(
    session: AsyncSession, *, upload_id: int, course_id: int, user_id: int | None, force: bool
) -> RevertOutcome:
    """Put every cell an applied upload changed back as it was, in the caller's transaction.

    Cells that no longer hold what the upload wrote refuse the revert (nothing
    written) unless ``force``; a later change that was undone since does not.
    Grades the upload created are deleted; every reverted cell gets a history row
    (reason "revert"). Set-based: a statement per kind of cell, no per-row trips. The
    upload's changes are its kept rows (``grade_upload_rows``, old values beside them).
    """
    await lock_course_grades(session, course_id=course_id)
    position = await session.scalar(
        select(GradeUpload.history_seq).where(GradeUpload.id == upload_id)
    )
    if position is None:  # the upload changed nothing
        return RevertOutcome()
    ours = rows.c.upload_id == upload_id
    changed_since = int(
        await session.scalar(select(func.count()).where(ours, ~_as_upload_left(course_id))) or 0
    )
    if changed_since and not force:
        return RevertOutcome(changed_since=changed_since, refused=True)
    user_id = await existing_user(session, user_id)
    now = utcnow()
    seq = await next_history_seq(session)
    history = insert(GradeChange).from_select(
        [
            "course_id",
            "user_id",
            "assessment",
            "old_value",
            "old_letter",
            "old_comment",
            "new_value",
            "new_letter",
            "new_comment",
            "changed_by_id",
            "changed_at",
            "upload_id",
            "reason",
        ],
        select(
            literal(course_id, Integer()),
            rows.c.user_id,
            rows.c.assessment,
            Grade.value,
            Grade.letter,
            Grade.comment,
            rows.c.old_value,
            rows.c.old_letter,
            rows.c.old_comment,
            literal(user_id, Integer()),
            literal(now, UTCDateTime()),
            literal(upload_id, Integer()),
            literal("revert", String()),
        )
        .select_from(rows.outerjoin(Grade, _cell(course_id, Grade)))
        .where(
            ours,
            or_(
                Grade.value.is_distinct_from(rows.c.old_value),
                Grade.letter.is_distinct_from(rows.c.old_letter),
                Grade.comment.is_distinct_from(rows.c.old_comment),
            ),
        ),
    )
    reverted = int(getattr(await session.execute(history), "rowcount", 0) or 0)
    ours_at_grade = and_(
        ours, rows.c.user_id == Grade.user_id, rows.c.assessment == Grade.assessment
    )
    await session.execute(
        delete(Grade)
        .where(
            Grade.course_id == course_id,
            exists(select(rows.c.upload_id).where(ours_at_grade, rows.c.old_value.is_(None))),
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Grade)
        .where(Grade.course_id == course_id, ours_at_grade, rows.c.old_value.is_not(None))
        .values(
            value=rows.c.old_value,
            letter=rows.c.old_letter,
            comment=func.coalesce(rows.c.old_comment, ""),
            updated_by_id=user_id,
            updated_at=now,
            change_seq=seq,
        )
        .execution_options(synchronize_session=False)
    )
    if force:
        # A grade deleted since the upload comes back too, as it was before it.
        missing = ~exists(select(Grade.id).where(_cell(course_id, Grade)))
        await session.execute(
            _grades_from_rows(
                course_id,
                (rows.c.old_value, rows.c.old_letter, rows.c.old_comment),
                changed_by=(user_id, now, seq),
                where=(ours, rows.c.old_value.is_not(None), missing),
            )
        )
    return RevertOutcome(reverted=reverted, changed_since=changed_since)


async def finish_revert(
    session: AsyncSession,
    *,
    outbox: Outbox,
    upload_id: int,
    owner: str,
    outcome: RevertOutcome,
) -> RevertStatus:
    """End a leased revert as its outcome says; LeaseLost (nothing written) if not ours."""
    now = utcnow()
    values: dict[str, Any] = {"phase": "done", "lease_owner": None, "lease_expires_at": None}
    if outcome.refused:
        status = RevertStatus.refused
        values["message"] = (
            f"Not reverted: {outcome.changed_since} of the grades this upload changed were "
            "changed again since; revert with force to put them back anyway."
        )
    else:
        status = RevertStatus.reverted
        values["reverted_at"] = now
        values["message"] = (
            f"Reverted: {outcome.reverted} grades put back as they were before this upload."
        )
    values["revert_status"] = status
    done = await session.execute(
        update(GradeUpload)
        .where(revert_leased_by(upload_id, owner))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if getattr(done, "rowcount", 0) != 1:
        raise LeaseLost()
    upload = await session.get_one(GradeUpload, upload_id, populate_existing=True)
    await record_upload_event(session, outbox, upload)
    return status


async def guard_revert(session: AsyncSession, *, upload_id: int, owner: str) -> None:
    """The revert's first write, guarded by its lease (it takes SQLite's write lock too)."""
    guarded = await session.execute(
        update(GradeUpload)
        .where(revert_leased_by(upload_id, owner))
        .values(phase="reverting")
        .execution_options(synchronize_session=False)
    )
    if getattr(guarded, "rowcount", 0) != 1:
        raise LeaseLost()


def summarise(*, dry_run: bool, changes: int, ignored: list[str], rows: int, same_file: str) -> str:
    """The message of an upload that went through."""
    verb = "Would change" if dry_run else "Changed"
    text = f"{verb} {changes} of {rows} grades" + (
        "; nothing applied yet (dry run)." if dry_run else "."
    )
    if changes == 0:
        text = f"All {rows} grades are as the file says already; nothing " + (
            "would change." if dry_run else "changed."
        )
    if ignored:
        text += " Ignored columns: " + ", ".join(ignored) + "."
    if same_file:
        text += " " + same_file
    return text


def stale_message(cells: int, *, duplicate_of: int | None, dry_run_id: int) -> str:
    against = f"upload #{duplicate_of}" if duplicate_of else f"the dry run (upload #{dry_run_id})"
    return (
        f"Nothing applied: {cells} of the grades this file changes were changed since "
        f"{against}. Check them, then upload again with force to overwrite them."
    )
