"""Reading grades over HTTP: own grades, the gradebook, its CSV and a cell's history."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.courses.models import Assignment
from gradeflow.db import transaction
from gradeflow.grading.service import record_submission_event
from gradeflow.grading.verdicts import SubmissionStatus
from tests.factories import PASSWORD, add_graded_submission
from tests.grades.conftest import School, build_school


@pytest.fixture
async def school(app: FastAPI, session_factory: async_sessionmaker[AsyncSession]) -> School:
    return await build_school(session_factory)


@pytest.fixture
async def signed_in(app: FastAPI) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    transport = httpx.ASGITransport(app=app)
    clients: dict[str, httpx.AsyncClient] = {}
    for name in ("teacher", "alice", "bob", "anonymous"):
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        if name != "anonymous":
            response = await client.post(
                "/api/auth/login", json={"email": f"{name}@example.org", "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
        clients[name] = client
    yield clients
    for client in clients.values():
        await client.aclose()


async def test_a_student_reads_only_their_own_grades(
    school: School, signed_in: dict[str, httpx.AsyncClient]
) -> None:
    alice = (await signed_in["alice"].get("/api/me/grades")).json()["courses"]
    assert [c["slug"] for c in alice] == ["alg", "bio"]
    algebra = alice[0]
    assert [(a["slug"], a["best"], a["points"]) for a in algebra["assignments"]] == [
        ("one", 10.0, 10),
        ("two", 4.0, 20),
    ]
    assert [(g["assessment"], g["value"], g["letter"]) for g in algebra["grades"]] == [
        ("final", 90.0, None),
        ("midterm", 85.0, "B"),
    ]
    assert (algebra["points"], algebra["max_points"], algebra["total"]) == (14.0, 30, 189.0)
    assert algebra["grades"][1]["updated_at"].endswith("+00:00")
    bob = (await signed_in["bob"].get("/api/me/grades")).json()["courses"]
    assert [(c["slug"], [g["value"] for g in c["grades"]]) for c in bob] == [("alg", [70.0])]


async def test_grades_need_an_account(
    school: School, signed_in: dict[str, httpx.AsyncClient]
) -> None:
    anonymous = signed_in["anonymous"]
    response = await anonymous.get("/api/me/grades")
    assert response.status_code == 401
    await anonymous.post("/api/session")  # a guest identity: points, but no courses
    response = await anonymous.get("/api/me/grades")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Grades need an account: register or sign in."


async def test_the_gradebook_lines_cells_up_with_its_columns(
    school: School, signed_in: dict[str, httpx.AsyncClient]
) -> None:
    response = await signed_in["teacher"].get(f"/api/courses/{school.algebra}/grades")
    assert response.status_code == 200, response.text
    book = response.json()
    assert book["course"]["slug"] == "alg"
    assert [a["slug"] for a in book["assignments"]] == ["one", "two"]
    assert book["assessments"] == ["final", "midterm"]
    rows = {row["student"]["email"]: row for row in book["rows"]}
    assert list(rows) == ["alice@example.org", "bob@example.org", "carol@example.org"]
    alice = rows["alice@example.org"]
    assert alice["best"] == [10.0, 4.0]
    assert [cell["value"] for cell in alice["grades"]] == [90.0, 85.0]
    assert alice["total"] == 189.0
    assert rows["bob@example.org"]["grades"] == [
        {"value": 70.0, "letter": None, "comment": "late"},
        None,
    ]
    assert rows["carol@example.org"] | {"student": None} == {
        "student": None,
        "best": [None, None],
        "grades": [None, None],
        "total": 0.0,
    }


async def test_the_csv_export_is_an_attachment(
    school: School, signed_in: dict[str, httpx.AsyncClient]
) -> None:
    response = await signed_in["teacher"].get(f"/api/courses/{school.algebra}/grades.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="alg-grades.csv"'
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [
        "student",
        "name",
        "student_number",
        "one",
        "two",
        "final",
        "midterm",
        "total",
    ]
    assert [row[0] for row in rows[1:]] == [
        "alice@example.org",
        "bob@example.org",
        "carol@example.org",
    ]


async def test_a_teacher_reads_a_cells_history(
    school: School, signed_in: dict[str, httpx.AsyncClient]
) -> None:
    teacher = signed_in["teacher"]
    url = f"/api/courses/{school.algebra}/grades/history"
    by_email = await teacher.get(
        url, params={"student": "alice@example.org", "assessment": "midterm"}
    )
    assert by_email.status_code == 200, by_email.text
    body = by_email.json()
    assert body["student"]["id"] == school.ids["alice"]
    assert [(c["old_value"], c["new_value"]) for c in body["changes"]] == [
        (80.0, 85.0),
        (None, 80.0),
    ]
    assert body["changes"][0]["changed_by"] == {
        "id": school.ids["teacher"],
        "email": "teacher@example.org",
        "name": "Ms Teacher",
    }
    by_id = await teacher.get(url, params={"student": school.ids["alice"], "assessment": "midterm"})
    assert by_id.json() == body
    stranger = await teacher.get(
        url, params={"student": "nobody@example.org", "assessment": "final"}
    )
    assert stranger.status_code == 404
    assert stranger.json()["error"]["code"] == "not_found"
    missing = await teacher.get(url, params={"student": "alice@example.org"})
    assert missing.status_code == 422
    bad_email = await teacher.get(url, params={"student": "not an email", "assessment": "final"})
    assert bad_email.status_code == 422


async def test_the_grade_pages(school: School, signed_in: dict[str, httpx.AsyncClient]) -> None:
    html = {"accept": "text/html"}
    visitor = await signed_in["anonymous"].get("/grades", headers=html)
    assert (visitor.status_code, visitor.headers["location"]) == (303, "/sign-in?next=/grades")
    alice = await signed_in["alice"].get("/grades", headers=html)
    assert alice.status_code == 200
    for shown in ("Algebra", "Biology", "189", "57.5", 'href="/grades"'):
        assert shown in alice.text
    teacher = await signed_in["teacher"].get("/grades", headers=html)
    assert f'href="/courses/{school.algebra}/gradebook"' in teacher.text
    page = await signed_in["teacher"].get(f"/courses/{school.algebra}/gradebook", headers=html)
    assert page.status_code == 200
    assert f'href="/api/courses/{school.algebra}/grades.csv"' in page.text
    assert page.text.count('data-student-id="') == 3
    refused = await signed_in["alice"].get(f"/courses/{school.algebra}/gradebook", headers=html)
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]


async def test_own_grades_follow_course_enrolment_and_result_changes_at_once(
    school: School,
    signed_in: dict[str, httpx.AsyncClient],
    app: FastAPI,
) -> None:
    alice, bob, teacher = signed_in["alice"], signed_in["bob"], signed_in["teacher"]
    assert [c["title"] for c in (await alice.get("/api/me/grades")).json()["courses"]] == [
        "Algebra",
        "Biology",
    ]
    assert [c["slug"] for c in (await bob.get("/api/me/grades")).json()["courses"]] == ["alg"]
    # Both answers are cached now; each write below must show in the next read.
    renamed = await teacher.patch(f"/api/courses/{school.algebra}", json={"title": "Linear"})
    assert renamed.status_code == 200, renamed.text
    courses = (await alice.get("/api/me/grades")).json()["courses"]
    assert {c["slug"]: c["title"] for c in courses} == {"alg": "Linear", "bio": "Biology"}
    enrolled = await teacher.post(
        f"/api/courses/{school.biology}/students", json={"email": "bob@example.org"}
    )
    assert enrolled.status_code in (200, 201), enrolled.text
    assert sorted(c["slug"] for c in (await bob.get("/api/me/grades")).json()["courses"]) == [
        "alg",
        "bio",
    ]
    # A grader records a result with an event for the student, which purges their reads.
    runtime = app.state.runtime
    async with transaction(runtime.session_factory) as session:
        submission = await add_graded_submission(
            session,
            user_id=school.ids["bob"],
            assignment=await session.get_one(Assignment, school.bio),
            status=SubmissionStatus.passed,
            score=50.0,
        )
        await record_submission_event(session, runtime.outbox, submission)
    courses = (await bob.get("/api/me/grades")).json()["courses"]
    assert [a["best"] for c in courses if c["slug"] == "bio" for a in c["assignments"]] == [50.0]
