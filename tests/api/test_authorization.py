"""Who may do what: every teacher-facing route for six kinds of caller, exact statuses.

Course A is private, taught by ``teacher`` with ``student`` enrolled; course B is
private too, with ``other_teacher`` and ``other_student``. A course a caller may
not see answers 404 (its existence does not leak); one they see but may not
change answers 403; no session at all answers 401.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import compile_path

from gradeflow.accounts.models import Role, User
from gradeflow.courses import authoring, members
from gradeflow.courses.format import load_path
from gradeflow.courses.models import Assignment
from gradeflow.courses.service import import_course
from gradeflow.db import transaction
from gradeflow.grading.previews import start_preview
from tests.factories import (
    PASSWORD,
    add_finished_uploads,
    api_schema,
    authored_assignment,
    create_account,
    lost_submission,
    memory_outbox,
    write_assignment,
)

PERSONAS = ["anonymous", "student", "other_student", "teacher", "other_teacher", "admin"]


@dataclass
class World:
    course_a: int
    course_b: int
    ids: dict[str, int]
    # A draft assignment of course A (never published).
    draft_a: int = 0
    # Per persona, a student of course A that only this persona's request touches.
    spare: dict[str, str] = field(default_factory=dict)
    spare_ids: dict[str, int] = field(default_factory=dict)
    # Per persona, an assignment of course A with no regrade yet, and a ready
    # (empty) regrade preview of another one.
    assignments: dict[str, int] = field(default_factory=dict)
    previews: dict[str, int] = field(default_factory=dict)
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    # Grade uploads of course A: one applied and reverted, one validated whose file is gone.
    applied_upload: int = 0
    validated_upload: int = 0
    # Per persona, a stuck (lost) submission of course A by that persona's spare student.
    lost: dict[str, int] = field(default_factory=dict)


async def build_world(factory: async_sessionmaker[AsyncSession], root: Path) -> World:
    ids = {
        "student": await create_account(factory, "student@example.org"),
        "other_student": await create_account(factory, "other-student@example.org"),
        "teacher": await create_account(factory, "teacher@example.org", role=Role.teacher),
        "other_teacher": await create_account(
            factory, "other-teacher@example.org", role=Role.teacher
        ),
        "admin": await create_account(factory, "admin@example.org", role=Role.admin),
        "co_teacher": await create_account(factory, "co-teacher@example.org", role=Role.teacher),
    }
    world = World(0, 0, ids)
    for persona in PERSONAS:
        email = f"spare-{persona.replace('_', '-')}@example.org"
        world.spare[persona] = email
        world.spare_ids[persona] = await create_account(factory, email)
    async with transaction(factory) as session:
        teacher = await session.get_one(User, ids["teacher"])
        other = await session.get_one(User, ids["other_teacher"])
        a = await members.create_course(session, teacher=teacher, slug="course-a", title="A")
        b = await members.create_course(session, teacher=other, slug="course-b", title="B")
        await members.enrol_student(session, a, email="student@example.org")
        await members.enrol_student(session, b, email="other-student@example.org")
        for email in world.spare.values():
            await members.enrol_student(session, a, email=email)
        world.course_a, world.course_b = a.id, b.id
        # Its reference solution fails its tests, so the solution check that a grader
        # of the app under test may run never publishes it: it stays a draft.
        saved = await authoring.create_assignment(
            session,
            course=a,
            author=teacher,
            fields=authored_assignment(solution="def add(a, b):\n    return a - b\n"),
        )
        world.draft_a = saved.assignment.id
        world.applied_upload, world.validated_upload = await add_finished_uploads(
            session, course_id=a.id, teacher_id=teacher.id
        )
    async with transaction(factory) as session:
        teacher = await session.get_one(User, ids["teacher"])
        for persona in PERSONAS:
            for kind in ("fresh", "previewed"):
                slug = f"{kind}-{persona.replace('_', '-')}"
                spec = load_path(write_assignment(root, slug), course_slug="course-a")
                report = await import_course(session, spec=spec)
                assignment = await session.scalar(
                    select(Assignment).where(
                        Assignment.course_id == report.course.id, Assignment.slug == slug
                    )
                )
                assert assignment is not None
                if kind == "fresh":
                    world.assignments[persona] = assignment.id
                    continue
                preview = await start_preview(
                    session, outbox=memory_outbox(factory), assignment=assignment, teacher=teacher
                )
                world.previews[persona] = preview.id
    async with factory() as session:
        for persona in PERSONAS:
            assignment = await session.get_one(Assignment, world.assignments[persona])
            world.lost[persona] = await lost_submission(
                factory,
                memory_outbox(factory),
                assignment=assignment,
                user_id=world.spare_ids[persona],
            )
    return world


@pytest.fixture
async def world(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[World]:
    built = await build_world(session_factory, tmp_path / "course-a")
    emails = {
        "student": "student@example.org",
        "other_student": "other-student@example.org",
        "teacher": "teacher@example.org",
        "other_teacher": "other-teacher@example.org",
        "admin": "admin@example.org",
    }
    transport = httpx.ASGITransport(app=app)
    for persona in PERSONAS:
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        if persona in emails:
            signed_in = await client.post(
                "/api/auth/login", json={"email": emails[persona], "password": PASSWORD}
            )
            assert signed_in.status_code == 200, signed_in.text
        built.clients[persona] = client
    yield built
    for client in built.clients.values():
        await client.aclose()


@dataclass(frozen=True)
class Case:
    method: str
    path: Callable[[World, str], str]
    expected: dict[str, int]
    body: Callable[[World, str], Any] = lambda world, persona: None
    files: Callable[[World, str], Any] | None = None


def statuses(
    anonymous: int, student: int, other_student: int, teacher: int, other_teacher: int, admin: int
) -> dict[str, int]:
    codes = [anonymous, student, other_student, teacher, other_teacher, admin]
    return dict(zip(PERSONAS, codes, strict=True))


def course_a(suffix: str = "") -> Callable[[World, str], str]:
    return lambda world, persona: f"/api/courses/{world.course_a}{suffix}"


CASES = {
    "create course": Case(
        "POST",
        lambda world, persona: "/api/courses",
        statuses(401, 403, 403, 201, 201, 201),
        lambda world, persona: {"slug": f"new-{persona.replace('_', '-')}", "title": "New"},
    ),
    "list courses": Case(
        "GET", lambda world, persona: "/api/courses", statuses(200, 200, 200, 200, 200, 200)
    ),
    "read course": Case("GET", course_a(), statuses(404, 200, 404, 200, 404, 200)),
    "edit course": Case(
        "PATCH",
        course_a(),
        statuses(401, 403, 404, 200, 404, 200),
        lambda world, persona: {"title": f"Renamed by {persona}"},
    ),
    "add co-teacher": Case(
        "POST",
        course_a("/teachers"),
        statuses(401, 403, 404, 201, 404, 201),
        # Not other_teacher: once made a co-teacher, they would be allowed.
        lambda world, persona: {"email": "co-teacher@example.org"},
    ),
    "list teachers": Case("GET", course_a("/teachers"), statuses(401, 403, 404, 200, 404, 200)),
    "enrol student": Case(
        "POST",
        course_a("/students"),
        statuses(401, 403, 404, 201, 404, 200),
        lambda world, persona: {"email": "other-student@example.org"},
    ),
    "roster": Case("GET", course_a("/students"), statuses(401, 403, 404, 200, 404, 200)),
    "unenrol student": Case(
        "DELETE",
        lambda world, persona: f"/api/courses/{world.course_a}/students/{world.spare_ids[persona]}",
        statuses(401, 403, 404, 204, 404, 204),
    ),
    "new join code": Case("POST", course_a("/join-code"), statuses(401, 403, 404, 200, 404, 200)),
    "close joining": Case("DELETE", course_a("/join-code"), statuses(401, 403, 404, 204, 404, 204)),
    "course assignments": Case(
        "GET", course_a("/assignments"), statuses(401, 403, 404, 200, 404, 200)
    ),
    "create assignment": Case(
        "POST",
        course_a("/assignments"),
        statuses(401, 403, 404, 201, 404, 201),
        lambda world, persona: authored_assignment(slug=f"by-{persona.replace('_', '-')}"),
    ),
    "read authored assignment": Case(
        "GET",
        lambda world, persona: f"/api/courses/{world.course_a}/assignments/{world.draft_a}",
        statuses(401, 403, 404, 200, 404, 200),
    ),
    "edit assignment": Case(
        "PATCH",
        lambda world, persona: f"/api/courses/{world.course_a}/assignments/{world.draft_a}",
        statuses(401, 403, 404, 200, 404, 200),
        lambda world, persona: {"title": f"Renamed by {persona}"},
    ),
    "assignment of another course": Case(
        "GET",
        lambda world, persona: f"/api/courses/{world.course_b}/assignments/{world.draft_a}",
        statuses(401, 404, 403, 404, 404, 404),
    ),
    "a draft as students see it": Case(
        "GET",
        lambda world, persona: f"/api/assignments/{world.draft_a}",
        statuses(401, 404, 404, 404, 404, 404),
    ),
    "submit to a draft": Case(
        "POST",
        lambda world, persona: f"/api/assignments/{world.draft_a}/submissions",
        statuses(401, 404, 404, 404, 404, 404),
        lambda world, persona: {"code": "def add(a, b):\n    return a + b\n"},
    ),
    "handout preview": Case(
        "POST",
        lambda world, persona: "/api/handout-preview",
        statuses(401, 403, 403, 200, 200, 200),
        lambda world, persona: {"markdown": "# Hi"},
    ),
    "upload grades": Case(
        "POST",
        course_a("/grade-uploads"),
        statuses(401, 403, 404, 202, 404, 202),
        files=lambda world, persona: {
            "file": ("g.csv", f"student,grade\n{world.spare[persona]},1\n")
        },
    ),
    "list grade uploads": Case(
        "GET", course_a("/grade-uploads"), statuses(401, 403, 404, 200, 404, 200)
    ),
    "read grade upload": Case(
        "GET",
        lambda world, persona: f"/api/grade-uploads/{world.applied_upload}",
        statuses(401, 403, 404, 200, 404, 200),
    ),
    "apply grade upload": Case(
        "POST",
        lambda world, persona: f"/api/grade-uploads/{world.validated_upload}/apply",
        statuses(401, 403, 404, 409, 404, 409),
    ),
    "revert grade upload": Case(
        "POST",
        lambda world, persona: f"/api/grade-uploads/{world.applied_upload}/revert",
        statuses(401, 403, 404, 409, 404, 409),
    ),
    "upload roster": Case(
        "POST",
        course_a("/roster"),
        statuses(401, 403, 404, 200, 404, 200),
        files=lambda world, persona: {"file": ("r.csv", f"student\n{world.spare[persona]}\n")},
    ),
    "start regrade preview": Case(
        "POST",
        lambda world, persona: f"/api/assignments/{world.assignments[persona]}/regrade-preview",
        statuses(401, 403, 404, 202, 404, 202),
    ),
    "read regrade preview": Case(
        "GET",
        lambda world, persona: f"/api/regrade-previews/{world.previews['teacher']}",
        statuses(401, 403, 404, 200, 404, 200),
    ),
    "apply regrade preview": Case(
        "POST",
        lambda world, persona: f"/api/regrade-previews/{world.previews[persona]}/apply",
        statuses(401, 403, 404, 200, 404, 200),
        lambda world, persona: {"policy": "higher"},
    ),
    "discard regrade preview": Case(
        "DELETE",
        lambda world, persona: f"/api/regrade-previews/{world.previews[persona]}",
        statuses(401, 403, 404, 200, 404, 200),
    ),
    "regrade": Case(
        "POST",
        lambda world, persona: f"/api/assignments/{world.assignments[persona]}/regrade",
        statuses(401, 403, 404, 202, 404, 202),
    ),
    "re-run a stuck submission": Case(
        "POST",
        lambda world, persona: f"/api/submissions/{world.lost[persona]}/rerun",
        statuses(401, 403, 404, 200, 404, 200),
    ),
    "create token": Case(
        "POST",
        lambda world, persona: "/api/tokens",
        statuses(401, 403, 403, 201, 201, 201),
        lambda world, persona: {"name": "script"},
    ),
    "list tokens": Case(
        "GET", lambda world, persona: "/api/tokens", statuses(401, 403, 403, 200, 200, 200)
    ),
    "own grades": Case(
        "GET", lambda world, persona: "/api/me/grades", statuses(401, 200, 200, 200, 200, 200)
    ),
    "gradebook": Case("GET", course_a("/grades"), statuses(401, 403, 404, 200, 404, 200)),
    "gradebook csv": Case("GET", course_a("/grades.csv"), statuses(401, 403, 404, 200, 404, 200)),
    "grade history": Case(
        "GET",
        course_a("/grades/history?student=student@example.org&assessment=final"),
        statuses(401, 403, 404, 200, 404, 200),
    ),
    # Pages: a visitor is sent to sign in instead of 401.
    "grades page": Case(
        "GET", lambda world, persona: "/grades", statuses(303, 200, 200, 200, 200, 200)
    ),
    "gradebook page": Case(
        "GET",
        lambda world, persona: f"/courses/{world.course_a}/gradebook",
        statuses(303, 403, 404, 200, 404, 200),
    ),
    "create user": Case(
        "POST",
        lambda world, persona: "/api/users",
        statuses(401, 403, 403, 403, 403, 201),
        lambda world, persona: {"email": f"made-by-{persona}@example.org", "password": PASSWORD},
    ),
}


def documented_statuses(method: str, url: str) -> set[int] | None:
    """The statuses the schema lists for the operation ``url`` reaches; None for a page.
    A literal path wins over a template that also matches it, as routing does."""
    path = urlsplit(url).path
    matching = sorted(
        (template.count("{"), operations[method.lower()]["responses"])
        for template, operations in api_schema()["paths"].items()
        if compile_path(template)[0].match(path) and method.lower() in operations
    )
    return {int(status) for status in matching[0][1]} if matching else None


@pytest.mark.parametrize("name", list(CASES))
async def test_each_caller_gets_exactly_its_status(world: World, name: str) -> None:
    case = CASES[name]
    seen = {}
    for persona in PERSONAS:
        body = case.body(world, persona)
        files = case.files(world, persona) if case.files is not None else None
        response = await world.clients[persona].request(
            case.method, case.path(world, persona), json=body, files=files
        )
        seen[persona] = response.status_code
        if response.status_code >= 400:
            assert response.json()["error"]["code"], response.text
    assert seen == case.expected
    documented = documented_statuses(case.method, case.path(world, "teacher"))
    if documented is not None:
        assert set(seen.values()) <= documented, f"undocumented: {set(seen.values()) - documented}"


async def test_course_lists_show_only_what_each_caller_may_see(world: World) -> None:
    def slugs(response: httpx.Response) -> set[str]:
        return {item["slug"] for item in response.json()["items"]}

    listed = {p: slugs(await world.clients[p].get("/api/courses")) for p in PERSONAS}
    # "basics" is the public course every test app imports.
    assert listed["anonymous"] == {"basics"}
    assert listed["student"] == {"basics", "course-a"}
    assert listed["other_student"] == {"basics", "course-b"}
    assert listed["teacher"] == {"basics", "course-a"}
    assert listed["other_teacher"] == {"basics", "course-b"}
    assert listed["admin"] == {"basics", "course-a", "course-b"}
    # Only the course's teachers see its join code.
    await world.clients["teacher"].post(f"/api/courses/{world.course_a}/join-code")
    for persona, code_shown in [("teacher", True), ("student", False), ("admin", True)]:
        course = (await world.clients[persona].get(f"/api/courses/{world.course_a}")).json()
        assert (course["join_code"] is not None) is code_shown, persona
