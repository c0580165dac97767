"""Roster uploads: enrol the students a CSV or XLSX file names, all of them or none.

The file follows the grade files' rules (``grades/files.py``): a header row with a
``student`` column holding emails or student numbers; other columns are ignored.
Rosters are small (a size cap keeps them so), so this runs inside the request.

A student named twice (the same key twice, or by email and by student number) is
enrolled once and the later rows are reported as repeats, not errors: enrolling is
the same either way, and every row is counted once (rows = enrolled + already
enrolled + repeated).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import User
from gradeflow.courses.members import enrol_student
from gradeflow.courses.models import Course
from gradeflow.db import transaction
from gradeflow.errors import Conflict, Invalid, NotFound
from gradeflow.grades.blobs import BlobStore
from gradeflow.grades.files import FileUnreadable, find_columns, open_table
from gradeflow.grades.intake import ReceivedFile
from gradeflow.grades.rows import MAX_STUDENT_CHARS, RowError, missing_columns, student_key

MAX_ROSTER_BYTES = 5 * 1024 * 1024
MAX_ROSTER_ROWS = 50_000
KEPT_ERRORS = 100
LOOKUP_CHUNK = 500


@dataclass
class RosterResult:
    rows: int = 0
    enrolled: int = 0
    already_enrolled: int = 0
    repeated: int = 0  # rows naming a student an earlier row named
    repeats: list[RowError] = field(default_factory=list)  # the first KEPT_ERRORS of them
    errors: list[RowError] = field(default_factory=list)
    errors_total: int = 0

    def add_error(self, error: RowError) -> None:
        self.errors_total += 1
        if len(self.errors) < KEPT_ERRORS:
            self.errors.append(error)

    def add_repeat(self, row: int, key: str, user: User, first: tuple[int, str]) -> None:
        self.repeated += 1
        if len(self.repeats) < KEPT_ERRORS:
            first_row, first_key = first
            again = f"{user.email} is named" if key == first_key else f"{key!r} is {user.email}"
            self.repeats.append(
                RowError(
                    row, "student", f"{again} again (first on row {first_row}); enrolled once."
                )
            )


def read_roster(path: Path) -> tuple[list[tuple[int, str]], RosterResult]:
    """The (row, student key) pairs of a roster file, and the errors found reading it.

    Raises ``FileUnreadable`` for a file that is not a table.
    """
    result = RosterResult()
    students: list[tuple[int, str]] = []
    with open_table(path, max_bytes=MAX_ROSTER_BYTES) as table:
        columns = find_columns(table.header, ("student",), written=table.written_header)
        missing = missing_columns(columns, header_row=table.header_row)
        if "student" not in columns:
            result.add_error(next(e for e in missing if e.column == "student"))
            return students, result
        for number, cells in table.rows:
            result.rows += 1
            if result.rows > MAX_ROSTER_ROWS:
                raise Invalid(f"A roster has at most {MAX_ROSTER_ROWS:,} rows.")
            student = columns.cell(cells, "student") or ""
            if not student:
                result.add_error(RowError(number, "student", "The student is empty."))
            elif len(student) > MAX_STUDENT_CHARS:
                result.add_error(
                    RowError(number, "student", "The student is not an email or number.")
                )
            else:
                students.append((number, student_key(student)))
    return students, result


async def _users_by_key(session: AsyncSession, keys: list[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        users = await session.scalars(
            select(User).where(or_(User.email.in_(chunk), User.student_number.in_(chunk)))
        )
        for user in users:
            for key in (user.email, user.student_number):
                if key:
                    found[key] = user
    return found


async def enrol_roster(
    session: AsyncSession, *, course: Course, students: list[tuple[int, str]], result: RosterResult
) -> RosterResult:
    """Enrol every student of the roster; on any error raise Invalid with them all (the
    caller's unit of work then rolls back every enrolment of this file)."""
    users = await _users_by_key(session, sorted({key for _, key in students}))
    seen: dict[int, tuple[int, str]] = {}  # user id → the first row naming them, its key
    for number, key in students:
        user = users.get(key)
        if user is None or user.email is None:
            result.add_error(
                RowError(number, "student", f"No account has the email or student number {key!r}.")
            )
            continue
        if user.id in seen:
            result.add_repeat(number, key, user, seen[user.id])
            continue
        seen[user.id] = (number, key)
        try:
            _, created = await enrol_student(session, course, email=user.email)
        except (Invalid, Conflict, NotFound) as exc:
            result.add_error(RowError(number, "student", exc.message))
            continue
        if created:
            result.enrolled += 1
        else:
            result.already_enrolled += 1
    if result.errors_total:
        raise Invalid(
            f"{result.errors_total} error{'s' if result.errors_total != 1 else ''} in the roster; "
            "nobody was enrolled. Correct them and upload it again.",
            details={
                "errors": [e.to_dict() for e in result.errors],
                "errors_total": result.errors_total,
            },
        )
    return result


async def enrol_received_roster(
    factory: async_sessionmaker[AsyncSession],
    *,
    blobs: BlobStore,
    course_id: int,
    received: ReceivedFile,
) -> RosterResult:
    """Enrol the students of a received roster file, all or none, in a unit of work of its
    own; raises Invalid (with the rows' errors). The file is deleted either way.

    It owns the unit of work because the file is read between receiving and enrolling,
    outside any transaction.
    """
    try:
        async with blobs.local_copy(received.key) as path:
            try:
                students, result = await asyncio.to_thread(read_roster, path)
            except FileUnreadable as exc:
                raise Invalid(exc.message) from exc
        async with transaction(factory) as session:
            course = await session.get_one(Course, course_id)
            return await enrol_roster(session, course=course, students=students, result=result)
    finally:
        await asyncio.shield(blobs.delete(received.key))
