"""The gradebook as CSV: columns, numbers, and cells that must not run as formulas."""

from __future__ import annotations

import csv
import io

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import User
from gradeflow.db import transaction
from gradeflow.grades import gradebook
from gradeflow.grades.export import format_number, gradebook_csv, safe_text
from tests.factories import add_students, set_grade
from tests.grades.conftest import School

Factory = async_sessionmaker[AsyncSession]


async def export(factory: Factory, course_id: int) -> tuple[list[str], list[list[str]]]:
    async with transaction(factory) as session:
        columns = await gradebook.gradebook_columns(session, course_id=course_id)
    chunks = [chunk async for chunk in gradebook_csv(factory, course_id=course_id, columns=columns)]
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    return rows[0], rows[1:]


def test_only_text_that_starts_like_a_formula_is_prefixed() -> None:
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_text(dangerous) == "'" + dangerous
    for harmless in ("alice@example.org", "O'Neil", "1-2", "", None):
        assert safe_text(harmless) == (harmless or "")
    assert [format_number(v) for v in (85.0, 7.5, -2.0, 1 / 3, -0.00001, None)] == [
        "85",
        "7.5",
        "-2",
        "0.3333",
        "0",
        "",
    ]


async def test_the_export_has_one_row_per_enrolled_student(
    school: School, session_factory: Factory
) -> None:
    header, rows = await export(session_factory, school.algebra)
    assert header == [
        "student",
        "name",
        "student_number",
        "one",
        "two",
        "final",
        "midterm",
        "total",
    ]
    assert rows == [
        ["alice@example.org", "", "S1", "10", "4", "90", "85", "189"],
        ["bob@example.org", "", "", "", "", "70", "", "70"],
        ["carol@example.org", "", "", "", "", "", "", "0"],
    ]


async def test_formula_cells_are_prefixed_and_negative_numbers_stay_numbers(
    school: School, session_factory: Factory
) -> None:
    async with transaction(session_factory) as session:
        bob = await session.get_one(User, school.ids["bob"])
        bob.name = '=HYPERLINK("http://evil.example","click")'
        bob.student_number = "+31 6 1234"
        await set_grade(
            session, course_id=school.algebra, user_id=bob.id, assessment="@penalty", value=-5
        )
    header, rows = await export(session_factory, school.algebra)
    assert header[5] == "'@penalty"
    bob_row = rows[1]
    assert bob_row[:3] == [
        "bob@example.org",
        '\'=HYPERLINK("http://evil.example","click")',
        "'+31 6 1234",
    ]
    assert bob_row[5] == "-5"
    assert bob_row[-1] == "65"


async def test_many_students_stream_in_order_across_batches(
    school: School, session_factory: Factory
) -> None:
    async with transaction(session_factory) as session:
        ids = await add_students(session, course_id=school.biology, count=450)
        await set_grade(
            session, course_id=school.biology, user_id=ids[449], assessment="lab", value=9
        )
    async with transaction(session_factory) as session:
        columns = await gradebook.gradebook_columns(session, course_id=school.biology)
    chunks = [
        c async for c in gradebook_csv(session_factory, course_id=school.biology, columns=columns)
    ]
    assert len(chunks) == 1 + 3  # the header, then one chunk per batch of 200 students
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert rows[0] == ["student", "name", "student_number", "cells", "lab", "total"]
    emails = [row[0] for row in rows[1:]]
    assert emails == ["alice@example.org"] + [f"student-{i:05d}@example.org" for i in range(450)]
    assert rows[-1][-2:] == ["9", "9"]
    assert rows[1][-3:] == ["50", "7.5", "57.5"]
