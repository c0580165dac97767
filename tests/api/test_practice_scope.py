"""Who practises what: public courses for everyone, private ones for their members,
archived ones for nobody's lists (their members still open their work)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role
from gradeflow.courses import members
from gradeflow.courses.models import Assignment, Course
from gradeflow.db import transaction
from gradeflow.settings import Settings
from tests.conftest import import_course_dir
from tests.factories import PASSWORD, create_account, write_course

Factory = async_sessionmaker[AsyncSession]


@pytest.fixture
async def private_course(settings: Settings, session_factory: Factory, tmp_path: Path) -> int:
    """A private course "secret" (two assignments) with enrolled@example.org in it."""
    await import_course_dir(settings, write_course(tmp_path / "more", slug="secret"))
    await create_account(session_factory, "enrolled@example.org")
    await create_account(session_factory, "outsider@example.org")
    await create_account(session_factory, "boss@example.org", role=Role.admin)
    async with transaction(session_factory) as session:
        course = await session.scalar(select(Course).where(Course.slug == "secret"))
        assert course is not None
        await members.update_course(session, course, public=False)
        await members.enrol_student(session, course, email="enrolled@example.org")
        return course.id


@asynccontextmanager
async def signed_in(app: FastAPI, email: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """A client with an anonymous identity (``None``) or signed in as ``email``."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        if email is None:
            assert (await client.post("/api/session")).status_code == 200
        else:
            response = await client.post(
                "/api/auth/login", json={"email": email, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
        yield client


async def listed_courses(client: httpx.AsyncClient, query: str = "") -> set[str]:
    response = await client.get(f"/api/assignments{query}")
    assert response.status_code == 200, response.text
    return {item["course"]["slug"] for item in response.json()["items"]}


async def secret_assignment(session_factory: Factory, course_id: int) -> int:
    async with session_factory() as session:
        found = await session.scalar(
            select(Assignment.id).where(Assignment.course_id == course_id).order_by(Assignment.id)
        )
        assert found is not None
        return found


async def test_private_courses_are_listed_only_to_their_members(
    app: FastAPI, private_course: int, session_factory: Factory
) -> None:
    expected = {
        None: {"basics"},
        "outsider@example.org": {"basics"},
        "enrolled@example.org": {"basics", "secret"},
        "boss@example.org": {"basics", "secret"},
    }
    secret_id = await secret_assignment(session_factory, private_course)
    for email, slugs in expected.items():
        async with signed_in(app, email) as client:
            assert await listed_courses(client) == slugs, email
            sees = "secret" in slugs
            detail = await client.get(f"/api/assignments/{secret_id}")
            assert detail.status_code == (200 if sees else 404), (email, detail.text)
            submit = await client.post(
                f"/api/assignments/{secret_id}/submissions", json={"code": "x = 1\n"}
            )
            assert submit.status_code == (202 if sees else 404), (email, submit.text)
            page = await client.get(f"/api/practice?assignment={secret_id}")
            assert page.status_code == (200 if sees else 404), email


async def test_the_course_filter_and_next_stay_within_one_course(
    app: FastAPI, private_course: int
) -> None:
    async with signed_in(app, "enrolled@example.org") as client:
        assert await listed_courses(client, f"?course={private_course}") == {"secret"}
        nxt = await client.get(f"/api/assignments/next?course={private_course}")
        assert nxt.status_code == 200, nxt.text
        assert nxt.json()["course"]["slug"] == "secret"
        page = await client.get(f"/api/practice?course={private_course}")
        assert page.status_code == 200
        assert page.json()["assignment"]["title"] == nxt.json()["title"]
        assert page.json()["course"]["slug"] == "secret"
    async with signed_in(app, "outsider@example.org") as client:
        assert await listed_courses(client, f"?course={private_course}") == set()
        nxt = await client.get(f"/api/assignments/next?course={private_course}")
        assert nxt.status_code == 404
        page = await client.get(f"/api/practice?course={private_course}")
        assert page.status_code == 404


async def test_making_a_course_private_or_archiving_it_takes_it_off_lists_at_once(
    app: FastAPI, private_course: int, session_factory: Factory
) -> None:
    async with session_factory() as session:
        basics = await session.scalar(select(Course.id).where(Course.slug == "basics"))
    assert basics is not None
    async with (
        signed_in(app, None) as visitor,
        signed_in(app, "boss@example.org") as admin,
        signed_in(app, "enrolled@example.org") as student,
    ):
        assert await listed_courses(visitor) == {"basics"}  # now cached
        hidden = await admin.patch(f"/api/courses/{basics}", json={"public": False})
        assert hidden.status_code == 200, hidden.text
        assert await listed_courses(visitor) == set()
        archived = await admin.patch(f"/api/courses/{private_course}", json={"archived": True})
        assert archived.status_code == 200, archived.text
        assert await listed_courses(student) == set()
        # The enrolled student still opens the archived course's work, but submits no more.
        secret_id = await secret_assignment(session_factory, private_course)
        assert (await student.get(f"/api/assignments/{secret_id}")).status_code == 200
        submit = await student.post(
            f"/api/assignments/{secret_id}/submissions", json={"code": "x = 1\n"}
        )
        assert submit.status_code == 409
        assert "archived" in submit.json()["error"]["message"]


async def test_a_signed_in_student_with_no_courses_is_told_where_to_find_one(
    app: FastAPI, private_course: int, session_factory: Factory
) -> None:
    async with transaction(session_factory) as session:
        for course in await session.scalars(select(Course)):
            await members.update_course(session, course, public=False)
    async with signed_in(app, "outsider@example.org") as client:
        page = await client.get("/api/practice")
    assert page.status_code == 200
    assert (page.json()["assignments"], page.json()["assignment"]) == ([], None)
