"""Schemathesis against the OpenAPI schema, as four callers, each on a database of its own.

Every request Schemathesis generates from ``/api/openapi.json`` (valid and invalid
alike) must be answered without a server error, with a status the schema lists for
that operation, and, for an error, with the one error shape. Bounded: a fixed seed
and a few examples per operation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from schemathesis.config import SchemathesisConfig

from gradeflow.accounts import tokens
from gradeflow.accounts.models import Role, User
from gradeflow.app import create_app
from gradeflow.courses import authoring, members
from gradeflow.courses.format import load_path
from gradeflow.courses.models import Assignment
from gradeflow.courses.service import import_course
from gradeflow.db import create_engine, create_session_factory, transaction
from gradeflow.grading.previews import start_preview
from gradeflow.grading.verdicts import SubmissionStatus
from gradeflow.settings import Settings
from tests.conftest import LiveServer, import_course_dir, sqlite_copy
from tests.factories import (
    PASSWORD,
    add_finished_uploads,
    add_graded_submission,
    authored_assignment,
    create_account,
    memory_outbox,
    set_grade,
    write_assignment,
    write_course,
)

PERSONAS = ["anonymous", "student", "teacher", "admin"]
ROLES = {"student": Role.student, "teacher": Role.teacher, "admin": Role.admin}
EXAMPLES_PER_OPERATION = 20

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 1313,
        "generation": {"max-examples": EXAMPLES_PER_OPERATION, "mode": "all", "database": "none"},
        "checks": {
            # A schema-valid request may still be refused with a documented 4xx: the
            # schema cannot say that an email must look like one, a slug be lowercase
            # or the tests be Python.
            "positive_data_acceptance": {"enabled": False},
            # Code over the submit limit is refused as too large (413), as documented.
            "negative_data_rejection": {
                "expected-statuses": [401, 403, 404, 409, 413, 415, 422, 429]
            },
        },
        "request-timeout": 30,
    }
)

# Collection needs the operations to make one test of each; the app is only built
# here, never started (no lifespan: no database, queue or files).
schema = schemathesis.openapi.from_dict(
    create_app(Settings(secret_key="fuzz-schema-only")).openapi(), config=CONFIG
).exclude(
    # The event stream opens with a comment and then stays open: each answer of 200
    # would cost a full read timeout. Its refusals are in tests/events/test_stream.py.
    method="GET",
    path="/api/events",
)


@dataclass
class Persona:
    name: str
    url: str
    cookies: dict[str, str]


async def build_world(settings: Settings, root: Path) -> None:
    """One of each resource, with the small ids generated values often are: course 1
    (public) and 2 (private, taught by the teacher, the student enrolled), assignments
    1-2 (public) and 3-4 (a draft and a published one of course 2), submission 1, grade
    uploads 1 (applied and reverted) and 2 (validated), regrade preview 1, token 1."""
    await import_course_dir(settings, write_course(root / "courses"))
    engine = create_engine(settings.resolved_database_url)
    factory = create_session_factory(engine)
    try:
        ids = {
            name: await create_account(factory, f"{name}@example.org", role=role)
            for name, role in ROLES.items()
        }
        async with transaction(factory) as session:
            teacher = await session.get_one(User, ids["teacher"])
            course = await members.create_course(
                session, teacher=teacher, slug="private", title="Private"
            )
            await members.enrol_student(session, course, email="student@example.org")
            await authoring.create_assignment(
                session, course=course, author=teacher, fields=authored_assignment()
            )
            spec = load_path(write_assignment(root / "private", "fresh"), course_slug="private")
            await import_course(session, spec=spec)
            public = await session.get_one(Assignment, 1)
            await add_graded_submission(
                session,
                user_id=ids["student"],
                assignment=public,
                status=SubmissionStatus.passed,
                score=10.0,
            )
            await add_finished_uploads(session, course_id=course.id, teacher_id=teacher.id)
            await set_grade(
                session, course_id=course.id, user_id=ids["student"], assessment="final", value=7
            )
            await tokens.create_token(session, user=teacher, name="fuzz")
        async with transaction(factory) as session:
            teacher = await session.get_one(User, ids["teacher"])
            fresh = await session.get_one(Assignment, 4)
            await start_preview(
                session, outbox=memory_outbox(factory), assignment=fresh, teacher=teacher
            )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def persona(
    request: pytest.FixtureRequest,
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Persona]:
    name: str = request.param
    root = tmp_path_factory.mktemp(f"fuzz-{name}")
    settings = Settings(
        data_dir=root / "var",
        database_url=sqlite_copy(sqlite_template, root),
        secret_key="fuzz-" + uuid.uuid4().hex,
    )
    asyncio.run(build_world(settings, root))
    with LiveServer(create_app(settings, grading=False)) as server:
        cookies: dict[str, str] = {}
        if name != "anonymous":
            signed_in = requests.post(
                f"{server.url}/api/auth/login",
                json={"email": f"{name}@example.org", "password": PASSWORD},
                timeout=10,
            )
            assert signed_in.status_code == 200, signed_in.text
            cookies = dict(signed_in.cookies)
        yield Persona(name, server.url, cookies)


def error_shape(ctx: object, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """An error answers ``{"error": {"code", "message", "details"}}`` (BRIEF section 6)."""
    if response.status_code < 400:
        return
    body = response.json()
    assert list(body) == ["error"], response.text
    assert sorted(body["error"]) == ["code", "details", "message"], response.text
    assert body["error"]["code"], response.text
    assert body["error"]["message"], response.text


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
@schema.parametrize()
def test_api_answers_as_documented(case: schemathesis.Case, persona: Persona) -> None:
    # No session kept between calls: a sign-out or a new identity in one answer must
    # not change who the next request is.
    case.call_and_validate(
        base_url=persona.url, cookies=persona.cookies, additional_checks=[error_shape]
    )
