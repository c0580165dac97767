"""Authoring pages over HTTP: teachers only, CSRF, the same rules as the API."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.courses import members
from gradeflow.courses.models import Assignment
from gradeflow.db import transaction
from tests.conftest import STARTING_EVENT_ID, read_before, recorded_statements
from tests.factories import (
    ADDER_SOLUTION,
    ADDER_TESTS,
    PASSWORD,
    add_assignment,
    create_account,
)
from tests.web.test_accounts import HTML, form_token, post_form

FORM = {
    "title": "Sum by form",
    "slug": "sum",
    "points": "10",
    "scoring": "proportional",
    "module": "adder",
    "order": "",
    "time_limit_s": "5",
    "memory_mb": "",
    "handout_md": "# Sum\r\n\r\nWrite `add`.\r\n",
    "tests": ADDER_TESTS.replace("\n", "\r\n"),
    "solution": ADDER_SOLUTION,
    "starter": "",
    "support_path": "notes.txt",
    "support_content": "hello\r\n",
}


async def signed_in(app: FastAPI, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


@pytest.fixture
async def course_id(session_factory: async_sessionmaker[AsyncSession]) -> int:
    teacher_id = await create_account(session_factory, "t@example.org", role=Role.teacher)
    async with transaction(session_factory) as session:
        teacher = await session.get_one(User, teacher_id)
        course = await members.create_course(session, teacher=teacher, slug="web", title="Web")
        return course.id


@pytest.fixture
async def teacher(app: FastAPI, course_id: int) -> AsyncIterator[httpx.AsyncClient]:
    client = await signed_in(app, "t@example.org")
    yield client
    await client.aclose()


async def count_assignments(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(Assignment)) or 0)


async def test_a_teacher_creates_an_assignment_with_the_form_and_it_is_checked(
    teacher: httpx.AsyncClient, course_id: int
) -> None:
    new = f"/courses/{course_id}/assignments/new"
    token = await form_token(teacher, new)
    created = await teacher.post(new, data=FORM | {"csrf_token": token}, headers=HTML)
    assert created.status_code == 303, created.text
    edit = created.headers["location"]
    assignment_id = int(edit.split("/")[-2])
    api = f"/api/courses/{course_id}/assignments/{assignment_id}"
    deadline = time.monotonic() + 60
    while (body := (await teacher.get(api)).json())["check"]["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)
    assert (body["state"], body["check"]["status"]) == ("published", "passed")
    # Line ends typed in a browser are stored as the files would hold them.
    assert body["handout_md"] == "# Sum\n\nWrite `add`.\n"
    assert body["support_files"] == {"notes.txt": "hello\n"}
    with recorded_statements() as statements:
        page = await teacher.get(edit, headers=HTML)
    assert read_before(statements, STARTING_EVENT_ID, "FROM assignment_drafts")
    assert 'data-state="published"' in page.text
    assert "<h1>Sum</h1>" in page.text  # the preview, rendered on the server first
    with recorded_statements() as statements:
        listing = await teacher.get(f"/courses/{course_id}/assignments", headers=HTML)
    assert read_before(statements, STARTING_EVENT_ID, "FROM assignment_drafts")
    assert "Sum by form" in listing.text


async def test_a_refused_form_shows_each_problem_and_stores_nothing(
    teacher: httpx.AsyncClient, course_id: int, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    new = f"/courses/{course_id}/assignments/new"
    token = await form_token(teacher, new)
    before = await count_assignments(session_factory)
    bad = FORM | {"points": "lots", "tests": "import unittest\n", "support_path": "../x"}
    refused = await teacher.post(new, data=bad | {"csrf_token": token}, headers=HTML)
    assert refused.status_code == 422
    assert 'data-field-error="points"' in refused.text
    assert "no tests found" in refused.text
    assert 'data-field-error="support_files"' in refused.text
    assert "Sum by form" in refused.text  # what was typed is kept
    assert await count_assignments(session_factory) == before
    forged = await teacher.post(new, data=FORM | {"csrf_token": "0" * 64}, headers=HTML)
    assert forged.status_code == 403
    assert await count_assignments(session_factory) == before


async def test_an_order_out_of_range_names_its_limits_in_plain_digits(
    teacher: httpx.AsyncClient, course_id: int
) -> None:
    new = f"/courses/{course_id}/assignments/new"
    token = await form_token(teacher, new)
    refused = await teacher.post(
        new, data=FORM | {"order": "2000000", "csrf_token": token}, headers=HTML
    )
    assert refused.status_code == 422
    assert "order: must be a whole number from 0 to 1,000,000<" in refused.text
    assert 'data-field-error="order">must be a whole number from 0 to 1,000,000<' in refused.text
    assert "1e+06" not in refused.text


async def test_only_the_course_teachers_get_the_pages(app: FastAPI, course_id: int) -> None:
    new = f"/courses/{course_id}/assignments/new"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as anonymous:
        response = await anonymous.get(new, headers=HTML)
        assert response.status_code == 303
        assert response.headers["location"] == f"/sign-in?next={new}"
    await create_account(app.state.runtime.session_factory, "s@example.org")
    await create_account(app.state.runtime.session_factory, "o@example.org", role=Role.teacher)
    student = await signed_in(app, "s@example.org")
    other = await signed_in(app, "o@example.org")
    try:
        assert (await student.get(new, headers=HTML)).status_code == 404
        assert (await other.get(new, headers=HTML)).status_code == 404
    finally:
        await student.aclose()
        await other.aclose()


async def test_the_assignment_pages_link_to_a_regrade_and_say_when_scores_keep_old_rules(
    teacher: httpx.AsyncClient, course_id: int, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(session_factory) as session:
        assignment = await add_assignment(session, course_id=course_id, slug="halves", points=50)
    regrade = f"/assignments/{assignment.id}/regrade-preview"
    edit = f"/courses/{course_id}/assignments/{assignment.id}/edit"
    listing = await teacher.get(f"/courses/{course_id}/assignments", headers=HTML)
    assert f'href="{regrade}"' in listing.text
    page = await teacher.get(edit, headers=HTML)
    assert f'<a href="{regrade}" data-testid="regrade-link">Preview a regrade</a>' in page.text
    assert 'data-testid="rules-changed"' not in page.text

    # A new title changes no score: no note.
    form = {name: value for name, value in FORM.items() if not name.startswith("support")}
    current = form | {
        "title": "Halves",
        "slug": "halves",
        "points": "50",
        "scoring": "all-or-nothing",
        "module": "adder",
        "time_limit_s": "10",
        "memory_mb": "256",
    }
    token = await form_token(teacher, edit)
    renamed = await teacher.post(edit, data=current | {"csrf_token": token}, headers=HTML)
    assert (renamed.status_code, renamed.headers["location"]) == (303, edit)

    # New points do: the page says existing scores keep the old rules, and where to regrade.
    changed = await teacher.post(
        edit, data=current | {"points": "100", "csrf_token": token}, headers=HTML
    )
    assert changed.status_code == 303
    page = await teacher.get(changed.headers["location"], headers=HTML)
    note = re.search(r'<p [^>]*data-testid="rules-changed"[^>]*>(.*?)</p>', page.text, re.S)
    assert note is not None, page.text
    assert "Scores students already have keep the old rules until a regrade" in note[1]
    assert f'href="{regrade}"' in note[1]


async def test_a_drafts_regrade_page_says_a_draft_has_nothing_to_regrade(
    app: FastAPI,
    teacher: httpx.AsyncClient,
    course_id: int,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(session_factory) as session:
        draft = await add_assignment(session, course_id=course_id, slug="unseen")
        draft.published = False
    regrade = f"/assignments/{draft.id}/regrade-preview"
    edit = await teacher.get(f"/courses/{course_id}/assignments/{draft.id}/edit", headers=HTML)
    assert 'data-testid="regrade-link"' not in edit.text
    listing = await teacher.get(f"/courses/{course_id}/assignments", headers=HTML)
    assert f'href="{regrade}"' not in listing.text

    for shown in (
        await teacher.get(regrade, headers=HTML),
        await post_form(teacher, regrade, {}, token_from=f"/courses/{course_id}"),
    ):
        assert shown.status_code == 409
        assert "is a draft: students cannot submit to it yet, so it has no submissions" in (
            shown.text
        )
        assert f'href="/courses/{course_id}/assignments/{draft.id}/edit"' in shown.text
    # Nobody else learns that the draft exists.
    await create_account(session_factory, "stu@example.org")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as student:
        signed = await student.post(
            "/api/auth/login", json={"email": "stu@example.org", "password": PASSWORD}
        )
        assert signed.status_code == 200
        assert (await student.get(regrade, headers=HTML)).status_code == 404
