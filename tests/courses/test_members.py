"""Memberships added twice at once: the second request finds the first one's row.

Each test holds one transaction's insert of a membership uncommitted while a second
transaction, having looked and found no membership, sends its own insert; the first
then commits. Before, the second one failed on the primary key (a 500 for a double
click on "Join", or two teachers enrolling the same student at once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.courses import members
from gradeflow.courses.models import Course, CourseMember, MemberRole
from gradeflow.db import transaction
from tests.factories import create_account

Factory = async_sessionmaker[AsyncSession]


@pytest.fixture
async def course_id(session_factory: Factory) -> int:
    await create_account(session_factory, "owner@example.org", role=Role.teacher)
    await create_account(session_factory, "co@example.org", role=Role.teacher)
    await create_account(session_factory, "ada@example.org")
    async with transaction(session_factory) as session:
        owner = await session.scalar(select(User).where(User.email == "owner@example.org"))
        assert owner is not None
        course = await members.create_course(session, teacher=owner, slug="c", title="C")
        return course.id


async def add_twice_at_once(
    session_factory: Factory, add: Callable[[AsyncSession, Course], Awaitable[Any]]
) -> Any:
    """``add`` in two transactions: the first one's insert stays uncommitted until the
    second one is sending its own; the second one's answer."""
    second_inserts = asyncio.Event()

    def on_execute(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO COURSE_MEMBERS"):
            second_inserts.set()

    async def second(course_id: int) -> Any:
        async with transaction(session_factory) as session:
            connection = await session.connection()
            event.listen(connection.sync_connection, "before_cursor_execute", on_execute)
            course = await session.get(Course, course_id)
            assert course is not None
            return await add(session, course)

    async with transaction(session_factory) as session:
        course = await session.scalar(select(Course).where(Course.slug == "c"))
        assert course is not None
        await add(session, course)
        answer = asyncio.create_task(second(course.id))
        await asyncio.wait_for(second_inserts.wait(), timeout=30)
    return await answer


async def memberships(session_factory: Factory, course_id: int) -> dict[str, MemberRole]:
    async with session_factory() as session:
        rows = await session.execute(
            select(User.email, CourseMember.role)
            .join(CourseMember, CourseMember.user_id == User.id)
            .where(CourseMember.course_id == course_id)
        )
        return {email: role for email, role in rows}


async def test_a_student_enrolled_twice_at_once_is_enrolled_once(
    session_factory: Factory, course_id: int
) -> None:
    async def enrol(session: AsyncSession, course: Course) -> bool:
        _user, enrolled = await members.enrol_student(session, course, email="ada@example.org")
        return enrolled

    assert await add_twice_at_once(session_factory, enrol) is False
    assert (await memberships(session_factory, course_id))["ada@example.org"] is MemberRole.student
    async with session_factory() as session:
        count = await session.scalar(select(func.count()).select_from(CourseMember))
    assert count == 2  # the owner and Ada


async def test_a_teacher_added_twice_at_once_teaches_once(
    session_factory: Factory, course_id: int
) -> None:
    async def add_teacher(session: AsyncSession, course: Course) -> str:
        return (await members.add_teacher(session, course, email="co@example.org")).email

    assert await add_twice_at_once(session_factory, add_teacher) == "co@example.org"
    assert await memberships(session_factory, course_id) == {
        "owner@example.org": MemberRole.teacher,
        "co@example.org": MemberRole.teacher,
    }
