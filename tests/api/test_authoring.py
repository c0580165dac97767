"""Authoring assignments over the JSON API, checked by the real sandbox in grader slots."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.courses import members
from gradeflow.courses.models import Assignment, AssignmentDraft
from gradeflow.db import transaction
from gradeflow.events.models import Event
from gradeflow.grading.checks import CHECK_EVENT
from tests.conftest import new_student, wait_for_final
from tests.factories import (
    ADDER_SOLUTION,
    ADDER_TESTS,
    ADDER_WRONG,
    PASSWORD,
    authored_assignment,
    create_account,
)


@dataclass
class Authoring:
    teacher: httpx.AsyncClient
    student: httpx.AsyncClient
    course_id: int
    teacher_id: int

    @property
    def base(self) -> str:
        return f"/api/courses/{self.course_id}/assignments"

    async def create(self, **fields: object) -> httpx.Response:
        return await self.teacher.post(self.base, json=authored_assignment(**fields))

    async def wait_for_check(self, assignment_id: int, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = (await self.teacher.get(f"{self.base}/{assignment_id}")).json()
            if body["check"]["status"] in ("passed", "failed", "error"):
                return body
            await asyncio.sleep(0.05)
        raise AssertionError(f"assignment {assignment_id} not checked within {timeout}s: {body}")


@pytest.fixture
async def authoring(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Authoring]:
    teacher_id = await create_account(session_factory, "teacher@example.org", role=Role.teacher)
    async with transaction(session_factory) as session:
        teacher = await session.get_one(User, teacher_id)
        course = await members.create_course(
            session, teacher=teacher, slug="web", title="Web", public=True
        )
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as teacher_client,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as student_client,
    ):
        signed_in = await teacher_client.post(
            "/api/auth/login", json={"email": "teacher@example.org", "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        await new_student(student_client)
        yield Authoring(teacher_client, student_client, course.id, teacher_id)


async def student_titles(client: httpx.AsyncClient) -> list[str]:
    return [item["title"] for item in (await client.get("/api/assignments")).json()["items"]]


async def test_a_created_assignment_is_a_draft_until_its_solution_passes_then_students_see_it(
    authoring: Authoring, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    created = await authoring.create()
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["state"], body["check"]["status"]) == ("draft", "queued")
    assert body["test_ids"] == [
        "AddTest.test_adds_two_numbers",
        "AddTest.test_adds_negative_numbers",
    ]

    checked = await authoring.wait_for_check(body["id"])
    assert (checked["state"], checked["check"]["status"]) == ("published", "passed")
    assert {t["outcome"] for t in checked["check"]["result"]["tests"]} == {"passed"}
    assert "Sum by API" in await student_titles(authoring.student)
    detail = await authoring.student.get(f"/api/assignments/{body['id']}")
    assert detail.status_code == 200
    assert "<h1>Sum</h1>" in detail.json()["handout_html"]
    submitted = await authoring.student.post(
        f"/api/assignments/{body['id']}/submissions", json={"code": ADDER_SOLUTION}
    )
    assert submitted.status_code == 202, submitted.text
    assert (await wait_for_final(authoring.student, submitted.json()["id"]))["status"] == "passed"

    # The teacher's stream followed the check live.
    async with session_factory() as session:
        events = await session.scalars(
            select(Event)
            .where(Event.user_id == authoring.teacher_id, Event.type == CHECK_EVENT)
            .order_by(Event.id)
        )
        seen = [e.payload["assignment"]["check"]["status"] for e in events]
    assert seen == ["queued", "running", "passed"]


async def test_a_failing_solution_stays_a_draft_students_cannot_reach_with_the_failing_test(
    authoring: Authoring,
) -> None:
    created = await authoring.create(solution=ADDER_WRONG)
    assert created.status_code == 201, created.text
    assignment_id = created.json()["id"]
    checked = await authoring.wait_for_check(assignment_id)
    assert (checked["state"], checked["check"]["status"]) == ("draft", "failed")
    tests = {t["id"]: t for t in checked["check"]["result"]["tests"]}
    assert tests["AddTest.test_adds_two_numbers"]["outcome"] == "failed"
    assert "2 + 3 should be 5" in tests["AddTest.test_adds_two_numbers"]["message"]

    student = authoring.student
    assert "Sum by API" not in await student_titles(student)
    assert (await student.get(f"/api/assignments/{assignment_id}")).status_code == 404
    submit = await student.post(
        f"/api/assignments/{assignment_id}/submissions", json={"code": ADDER_SOLUTION}
    )
    assert submit.status_code == 404
    assert (await student.get(f"/api/practice?assignment={assignment_id}")).status_code == 404
    practice = await student.get("/api/practice")
    assert "Sum by API" not in practice.text
    listed = (await authoring.teacher.get(authoring.base)).json()["items"]
    assert [(i["slug"], i["state"], i["check"]["status"]) for i in listed] == [
        ("sum", "draft", "failed")
    ]


async def test_editing_checked_files_rechecks_while_students_keep_the_published_version(
    authoring: Authoring,
) -> None:
    assignment_id = (await authoring.create()).json()["id"]
    await authoring.wait_for_check(assignment_id)
    url = f"{authoring.base}/{assignment_id}"
    first_check = (await authoring.teacher.get(url)).json()["check"]

    # Title only: live at once, no new check.
    renamed = await authoring.teacher.patch(url, json={"title": "Sum, renamed"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["check"] == first_check
    assert "Sum, renamed" in await student_titles(authoring.student)

    # Tests the solution fails: checked again; students keep the published version.
    broken_tests = ADDER_TESTS.replace("add(2, 3), 5", "add(2, 3), 6")
    edited = await authoring.teacher.patch(
        url, json={"tests": broken_tests, "handout_md": "# New handout\n"}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["check"]["status"] == "queued"
    assert edited.json()["pending_changes"] is True
    failed = await authoring.wait_for_check(assignment_id)
    assert (failed["state"], failed["check"]["status"], failed["pending_changes"]) == (
        "published",
        "failed",
        True,
    )
    live = (await authoring.student.get(f"/api/assignments/{assignment_id}")).json()
    assert "<h1>Sum</h1>" in live["handout_html"]

    # Fixing the solution to the new tests passes, and the whole working copy goes live.
    fixed = await authoring.teacher.patch(
        url, json={"solution": "def add(a, b):\n    return 6 if (a, b) == (2, 3) else a + b\n"}
    )
    assert fixed.json()["check"]["status"] == "queued"
    passed = await authoring.wait_for_check(assignment_id)
    assert (passed["check"]["status"], passed["pending_changes"]) == ("passed", False)
    live = (await authoring.student.get(f"/api/assignments/{assignment_id}")).json()
    assert "<h1>New handout</h1>" in live["handout_html"]


async def test_support_files_merge_and_their_changes_recheck(authoring: Authoring) -> None:
    tests = (
        "import unittest\nfrom adder import add\nfrom helpers import TWO\n\n"
        "class T(unittest.TestCase):\n    def test_two(self):\n"
        "        self.assertEqual(add(TWO, 0), 2)\n"
    )
    created = await authoring.create(
        tests=tests, support_files={"helpers.py": "TWO = 2\n", "data/notes.txt": "x"}
    )
    assert created.status_code == 201, created.text
    assignment_id = created.json()["id"]
    assert (await authoring.wait_for_check(assignment_id))["check"]["status"] == "passed"
    url = f"{authoring.base}/{assignment_id}"
    edited = await authoring.teacher.patch(
        url, json={"support_files": {"helpers.py": "TWO = 3\n", "data/notes.txt": None}}
    )
    assert edited.json()["support_files"] == {"helpers.py": "TWO = 3\n"}
    failed = await authoring.wait_for_check(assignment_id)
    assert failed["check"]["status"] == "failed"


async def assignment_rows(factory: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with factory() as session:
        assignments = await session.scalar(select(func.count()).select_from(Assignment))
        drafts = await session.scalar(select(func.count()).select_from(AssignmentDraft))
    return int(assignments or 0), int(drafts or 0)


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"slug": "Bad Slug"}, "slug", "lowercase"),
        ({"points": -1}, "points", "whole number from 0 to 10,000"),
        ({"points": "10"}, "points", "valid integer"),
        ({"scoring": "curve"}, "scoring", "proportional"),
        ({"module": "os"}, "module", "shadow"),
        ({"time_limit_s": 500}, "time_limit_s", "0.1 to 120"),
        ({"colour": "red"}, "colour", "Extra inputs"),
        ({"tests": "import unittest\nclass T(unittest.TestCase)\n"}, "tests", "SyntaxError"),
        ({"tests": "import unittest\n"}, "tests", "no tests found"),
        ({"solution": "def add(:\n"}, "solution", "SyntaxError"),
        ({"support_files": {"../escape.py": "x"}}, "support_files/../escape.py", ".."),
        ({"support_files": {"/etc/passwd": "x"}}, "support_files//etc/passwd", "absolute"),
        ({"support_files": {"tests.py": "x"}}, "support_files/tests.py", "replace tests.py"),
        # Staged beside tests.py and the student's module: a path under a file cannot be.
        ({"support_files": {"a": "x", "a/b": "y"}}, "support_files/a/b", "'a' is a file"),
        ({"support_files": {"tests.py/x": "a"}}, "support_files/tests.py/x", "'tests.py' is a"),
        ({"support_files": {"adder.py/x": "a"}}, "support_files/adder.py/x", "'adder.py' is a"),
        (
            {
                "tests": "import unittest\nclass Tést(unittest.TestCase):\n    def test_a(self): pass\n"
            },
            "tests",
            "ASCII",
        ),
        (
            {"tests": "import unittest\nclass T(unittest.TestCase):\n    def test_é(self): pass\n"},
            "tests",
            "ASCII",
        ),
        ({"handout_md": "x" * (1024 * 1024 + 1)}, "handout_md", "larger than 1024 KiB"),
        (
            {"support_files": {f"f{i}.txt": "x" for i in range(201)}},
            "support_files",
            "more than 200 files",
        ),
    ],
)
async def test_invalid_fields_are_refused_naming_the_field_and_nothing_is_stored(
    authoring: Authoring,
    session_factory: async_sessionmaker[AsyncSession],
    fields: dict[str, object],
    field: str,
    words: str,
) -> None:
    before = await assignment_rows(session_factory)
    response = await authoring.create(**fields)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    named = [
        d.get("field") or ".".join(map(str, d.get("location", [])[1:])) for d in error["details"]
    ]
    assert field in named, error
    assert words in error["message"] or any(words in d["message"] for d in error["details"])
    assert await assignment_rows(session_factory) == before


async def test_an_edit_whose_support_file_would_be_under_tests_py_is_refused(
    authoring: Authoring,
) -> None:
    assignment_id = (await authoring.create()).json()["id"]
    checked = await authoring.wait_for_check(assignment_id)
    url = f"{authoring.base}/{assignment_id}"
    response = await authoring.teacher.patch(url, json={"support_files": {"tests.py/x": "a"}})
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert [d["field"] for d in details] == ["support_files/tests.py/x"]
    assert (await authoring.teacher.get(url)).json() == checked


async def test_a_refused_edit_changes_nothing(authoring: Authoring) -> None:
    assignment_id = (await authoring.create()).json()["id"]
    checked = await authoring.wait_for_check(assignment_id)
    url = f"{authoring.base}/{assignment_id}"
    response = await authoring.teacher.patch(
        url, json={"title": "Changed", "tests": "import unittest\n"}
    )
    assert response.status_code == 422
    assert (await authoring.teacher.get(url)).json() == checked
    duplicate = await authoring.create(slug="other")
    clash = await authoring.teacher.patch(
        f"{authoring.base}/{duplicate.json()['id']}", json={"slug": "sum"}
    )
    assert clash.status_code == 409


async def test_an_oversized_body_is_refused_before_it_is_read_whole(authoring: Authoring) -> None:
    response = await authoring.create(solution="#" * (20 * 1024 * 1024))
    assert response.status_code == 413


async def test_the_handout_preview_renders_safely_for_teachers_only(authoring: Authoring) -> None:
    source = {"markdown": "# Hi\n\n<script>alert(1)</script> [x](javascript:alert(1))"}
    preview = await authoring.teacher.post("/api/handout-preview", json=source)
    assert preview.status_code == 200
    html = preview.json()["html"]
    assert "<h1>Hi</h1>" in html
    assert "<script>" not in html
    assert 'href="javascript' not in html
    assert (await authoring.student.post("/api/handout-preview", json=source)).status_code == 403
