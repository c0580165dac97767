"""Stuck submissions over HTTP, graded again in the real sandbox: the course's list for
its teachers, every course's for admins, the pages, and a re-run that ends graded.
(Who may re-run is in ``test_authorization``; the rules in ``tests/grading/test_stuck``.)"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role
from gradeflow.courses.models import Assignment
from gradeflow.grading.models import Submission
from tests.api.test_previews import make_teacher_of_basics
from tests.conftest import wait_for_final
from tests.factories import ADDER_SOLUTION, PASSWORD, create_account, lost_submission, memory_outbox

Factory = async_sessionmaker[AsyncSession]


async def signed_in(app: FastAPI, factory: Factory, email: str, role: Role) -> httpx.AsyncClient:
    await create_account(factory, email, role=role)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


async def test_teachers_and_admins_see_a_lost_submission_and_rerun_it_to_a_result(
    app: FastAPI, session_factory: Factory
) -> None:
    teacher = await signed_in(app, session_factory, "teach@example.org", Role.teacher)
    await make_teacher_of_basics(session_factory, "teach@example.org")
    admin = await signed_in(app, session_factory, "root@example.org", Role.admin)
    student = await signed_in(app, session_factory, "kim@example.org", Role.student)
    student_id = (await student.get("/api/me")).json()["id"]
    async with session_factory() as session:
        adder = await session.scalar(select(Assignment).where(Assignment.slug == "adder"))
        assert adder is not None
    lost = await lost_submission(
        session_factory,
        memory_outbox(session_factory),
        assignment=adder,
        user_id=student_id,
        code=ADDER_SOLUTION,
    )

    listed = await teacher.get(f"/api/courses/{adder.course_id}/stuck-submissions")
    assert listed.status_code == 200, listed.text
    [row] = listed.json()["submissions"]
    assert (row["id"], row["student"], row["status"], row["reason"]) == (
        lost,
        "kim@example.org",
        "error",
        "error",
    )
    assert "Grading failed 1 times" in row["message"]
    assert listed.json()["threshold_s"] == 300
    assert (await admin.get("/api/stuck-submissions")).json()["submissions"] == [row]
    assert (await teacher.get("/api/stuck-submissions")).status_code == 403
    assert (
        await student.get(f"/api/courses/{adder.course_id}/stuck-submissions")
    ).status_code == 403

    html = {"Accept": "text/html"}
    page = await teacher.get(f"/courses/{adder.course_id}/stuck", headers=html)
    assert page.status_code == 200
    assert f'aria-label="Re-run submission {lost}"' in page.text
    assert (
        f"/courses/{adder.course_id}/stuck"
        in (await teacher.get(f"/courses/{adder.course_id}", headers=html)).text
    )
    admin_page = await admin.get("/admin/stuck", headers=html)
    assert admin_page.status_code == 200
    assert "kim@example.org" in admin_page.text
    assert (await student.get("/admin/stuck", headers=html)).status_code == 403

    rerun = await teacher.post(f"/api/submissions/{lost}/rerun")
    assert rerun.status_code == 200, rerun.text
    assert rerun.json() == {"id": lost, "status": "queued", "reused": False}
    again = await teacher.post(f"/api/submissions/{lost}/rerun")
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "conflict"

    graded = await wait_for_final(student, lost, timeout=60)
    assert graded["status"] == "passed"
    assert graded["attempts"] == 1
    assert (await student.get("/api/me")).json()["points"] == adder.points
    assert (await teacher.get(f"/api/courses/{adder.course_id}/stuck-submissions")).json()[
        "submissions"
    ] == []
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 1
    for client in (teacher, admin, student):
        await client.aclose()
