"""Grades name existing students and courses, and go with them (migration 0009's triggers,
which replace per-row foreign keys with per-statement checks)."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import User
from gradeflow.courses.models import Course
from gradeflow.db import transaction
from gradeflow.grades.models import Grade
from tests.grades.conftest import School

REFUSED = r"(?i)foreign key|does not exist"


async def _move_a_grade(factory: async_sessionmaker[AsyncSession], **cell: int) -> None:
    async with transaction(factory) as session:
        await session.execute(
            update(Grade)
            .where(Grade.id == select(func.min(Grade.id)).scalar_subquery())
            .values(**cell)
        )


async def _grades(factory: async_sessionmaker[AsyncSession], **where: int) -> int:
    async with factory() as session:
        query = select(func.count()).select_from(Grade).filter_by(**where)
        return int(await session.scalar(query) or 0)


@pytest.mark.parametrize("missing", ["user_id", "course_id"])
async def test_a_grade_naming_a_missing_student_or_course_is_refused(
    session_factory: async_sessionmaker[AsyncSession], school: School, missing: str
) -> None:
    before = await _grades(session_factory)
    cell = {"course_id": school.algebra, "user_id": school.ids["alice"]} | {missing: 999_999}
    with pytest.raises(DBAPIError, match=REFUSED):
        async with transaction(session_factory) as session:
            session.add(Grade(assessment="quiz", value=1.0, comment="", **cell))
    assert await _grades(session_factory) == before
    # Pointing an existing grade elsewhere is checked too.
    with pytest.raises(DBAPIError, match=REFUSED):
        await _move_a_grade(session_factory, **{missing: 999_999})


async def test_the_grades_of_a_deleted_student_or_course_go_with_them(
    session_factory: async_sessionmaker[AsyncSession], school: School
) -> None:
    alice = school.ids["alice"]
    assert await _grades(session_factory, user_id=alice) == 3
    assert await _grades(session_factory, course_id=school.algebra) == 5
    async with transaction(session_factory) as session:
        await session.execute(delete(User).where(User.id == alice))
    assert await _grades(session_factory, user_id=alice) == 0
    assert await _grades(session_factory, course_id=school.algebra) == 3
    async with transaction(session_factory) as session:
        await session.execute(delete(Course).where(Course.id == school.algebra))
    assert await _grades(session_factory, course_id=school.algebra) == 0
    assert await _grades(session_factory) == 0  # biology's grade was alice's
