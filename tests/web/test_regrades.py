"""Regrade preview pages over HTTP: who may see them, CSRF, and the form flow."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role
from gradeflow.grading.models import Regrade
from tests.api.test_previews import _signed_in, adder_id, make_teacher
from tests.factories import ADDER_SOLUTION, create_account
from tests.web.test_accounts import HTML, form_token, post_form

Factory = async_sessionmaker[AsyncSession]


async def test_only_the_courses_teachers_see_the_pages(
    app: FastAPI, session_factory: Factory
) -> None:
    teacher = await make_teacher(app, session_factory)
    adder = await adder_id(teacher)
    start = f"/assignments/{adder}/regrade-preview"
    await create_account(session_factory, "stu@example.org")
    await create_account(session_factory, "other@example.org", role=Role.teacher)
    student = await _signed_in(app, "stu@example.org")
    other = await _signed_in(app, "other@example.org")
    guest = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    try:
        redirected = await guest.get(start, headers=HTML)
        assert (redirected.status_code, redirected.headers["location"]) == (
            303,
            f"/sign-in?next={start}",
        )
        # "basics" is public: everyone sees the course, only its teachers the page.
        assert (await student.get(start, headers=HTML)).status_code == 403
        assert (await other.get(start, headers=HTML)).status_code == 403
        assert (await teacher.get(start, headers=HTML)).status_code == 200
        assert (await teacher.get(f"{start}/999", headers=HTML)).status_code == 404
    finally:
        for client in (teacher, student, other, guest):
            await client.aclose()


async def test_a_teacher_starts_discards_and_cannot_post_without_the_form_token(
    app: FastAPI, session_factory: Factory
) -> None:
    teacher = await make_teacher(app, session_factory)
    adder = await adder_id(teacher)
    start = f"/assignments/{adder}/regrade-preview"
    student = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    await student.post("/api/session")
    accepted = await student.post(
        f"/api/assignments/{adder}/submissions", json={"code": ADDER_SOLUTION}
    )
    for _ in range(600):
        if (await student.get(f"/api/submissions/{accepted.json()['id']}")).json()[
            "status"
        ] == "passed":
            break
        await asyncio.sleep(0.05)
    try:
        forged = await teacher.post(start, data={"csrf_token": "0" * 64}, headers=HTML)
        assert forged.status_code == 403
        async with session_factory() as session:
            assert list(await session.scalars(select(Regrade))) == []

        started = await post_form(teacher, start, {}, token_from=start)
        assert started.status_code == 303
        page_path = started.headers["location"]
        # A second start goes to the open preview instead.
        again = await post_form(teacher, start, {}, token_from=start)
        assert (again.status_code, again.headers["location"]) == (303, page_path)
        for _ in range(600):
            page = await teacher.get(page_path, headers=HTML)
            if 'data-status="ready"' in page.text:
                break
            await asyncio.sleep(0.05)
        assert "no score has changed yet" in page.text
        token = await form_token(teacher, page_path)
        wrong = await teacher.post(
            f"{page_path}/apply", data={"csrf_token": token, "policy": "best"}, headers=HTML
        )
        assert wrong.status_code == 422
        assert "Choose how to apply" in wrong.text
        discarded = await post_form(teacher, f"{page_path}/discard", {}, token_from=page_path)
        assert discarded.status_code == 303
        shown = await teacher.get(page_path, headers=HTML)
        assert 'data-testid="preview-status">discarded<' in shown.text
        late = await post_form(teacher, f"{page_path}/apply", {"policy": "new"}, token_from=start)
        assert late.status_code == 409
        assert "This preview was discarded." in late.text
    finally:
        await teacher.aclose()
        await student.aclose()
