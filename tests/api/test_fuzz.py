"""Schemathesis against the OpenAPI schema, as four callers, each on a database of its own,
and once more as a teacher on PostgreSQL through a services-mode web process.

Every request Schemathesis generates from ``/api/openapi.json`` (valid and invalid
alike) must be answered without a server error, with a status the schema lists for
that operation, and, for an error, with the one error shape. Bounded: a fixed seed
and a few examples per operation. ``/api/events`` (a stream that stays open) is
fuzzed by Hypothesis here too: resume points and parameters of any shape, each
stream cut after its opening lines.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import given, settings, strategies
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
from tests.conftest import LiveServer, import_course_dir, postgres_clone, sqlite_copy
from tests.factories import (
    PASSWORD,
    add_finished_uploads,
    add_graded_submission,
    api_schema,
    authored_assignment,
    create_account,
    memory_outbox,
    set_grade,
    write_assignment,
    write_course,
)

PERSONAS = ["anonymous", "student", "teacher", "admin"]
# PostgreSQL's integer columns, its SQL and the services-mode adapters (RabbitMQ,
# Redis, the database blob store), with fewer examples: the operations are the same.
POSTGRES_PERSONA = "teacher-postgres"
ROLES = {"student": Role.student, "teacher": Role.teacher, "admin": Role.admin}
EXAMPLES_PER_OPERATION = 20
EXAMPLES_ON_POSTGRES = 5


def fuzz_config(examples: int) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": 1313,
            "generation": {"max-examples": examples, "mode": "all", "database": "none"},
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


# Collection needs the operations to make one test of each.
OPENAPI = api_schema()


def fuzzed_schema(examples: int) -> schemathesis.schemas.BaseSchema:
    # The event stream opens with a comment and then stays open: each answer of 200
    # would cost a full read timeout. test_the_event_stream_answers_as_documented below.
    return schemathesis.openapi.from_dict(OPENAPI, config=fuzz_config(examples)).exclude(
        method="GET", path="/api/events"
    )


schema = fuzzed_schema(EXAMPLES_PER_OPERATION)
postgres_schema = fuzzed_schema(EXAMPLES_ON_POSTGRES)


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
    if name == POSTGRES_PERSONA:
        with services_mode_web(request.getfixturevalue("postgres_template"), root) as url:
            yield Persona(name, url, sign_in(url, "teacher"))
        return
    app_settings = Settings(
        data_dir=root / "var",
        database_url=sqlite_copy(sqlite_template, root),
        secret_key="fuzz-" + uuid.uuid4().hex,
    )
    asyncio.run(build_world(app_settings, root))
    with LiveServer(create_app(app_settings, grading=False)) as server:
        yield Persona(name, server.url, sign_in(server.url, name))


def sign_in(url: str, name: str) -> dict[str, str]:
    """The session cookie of ``name``'s account; none for anonymous."""
    if name == "anonymous":
        return {}
    signed_in = requests.post(
        f"{url}/api/auth/login",
        json={"email": f"{name}@example.org", "password": PASSWORD},
        timeout=30,
    )
    assert signed_in.status_code == 200, signed_in.text
    return dict(signed_in.cookies)


@contextmanager
def services_mode_web(template: str, root: Path) -> Iterator[str]:
    """A ``gradeflow web`` process on a PostgreSQL clone with the world built in it,
    with the machine's RabbitMQ and Redis under names of its own; its URL."""
    from tests.services.conftest import (
        BROKER_URL,
        REDIS_URL,
        WebProcess,
        _drop_broker_and_cache_state,
    )

    prefix = f"gffuzz-{uuid.uuid4().hex[:10]}"
    with contextmanager(postgres_clone)(template) as database_url:
        app_settings = Settings(
            data_dir=root / "var",
            database_url=database_url,
            broker_url=BROKER_URL,
            redis_url=REDIS_URL,
            queue_prefix=prefix,
            secret_key="fuzz-" + uuid.uuid4().hex,
        )
        asyncio.run(build_world(app_settings, root))
        web = WebProcess(app_settings)
        try:
            yield web.url
        finally:
            web.kill(signal.SIGTERM)
            asyncio.run(_drop_broker_and_cache_state(prefix))


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


@pytest.mark.postgres
@pytest.mark.parametrize("persona", [POSTGRES_PERSONA], indirect=True)
@postgres_schema.parametrize()
def test_api_answers_as_documented_on_postgresql(case: schemathesis.Case, persona: Persona) -> None:
    case.call_and_validate(
        base_url=persona.url, cookies=persona.cookies, additional_checks=[error_shape]
    )


# What a resume point or parameter may look like on the wire: any printable Latin-1
# (Starlette decodes headers as Latin-1), digits of other scripts, huge numbers.
WIRE_TEXT = strategies.text(
    strategies.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=30,
)
STREAM_EXAMPLES = 25
RESUME_POINTS = strategies.one_of(
    strategies.none(),
    WIRE_TEXT,
    strategies.integers(min_value=-(2**70), max_value=2**70).map(str),
    strategies.sampled_from(["\xb2", "\xb9\xb3", "0" * 40, "+1", " 1", "1 ", "", "9" * 19]),
)


# Signed in: an anonymous caller is refused (401) before any parameter is read.
@pytest.mark.parametrize("persona", ["student", POSTGRES_PERSONA], indirect=True)
def test_the_event_stream_answers_as_documented(persona: Persona) -> None:
    """Bad ``Last-Event-ID`` headers and ``last_event_id`` parameters are answered with a
    documented status and the error shape; an accepted stream opens with its
    ``: connected`` comment and is cut there."""
    documented = {int(status) for status in OPENAPI["paths"]["/api/events"]["get"]["responses"]}
    streamed = 0

    @settings(max_examples=STREAM_EXAMPLES, derandomize=True, deadline=None, database=None)
    @given(header=RESUME_POINTS, query=RESUME_POINTS)
    def answers_as_documented(header: str | None, query: str | None) -> None:
        nonlocal streamed
        # A header value cannot start or end with blanks on the wire (h11 refuses).
        headers = {} if header is None else {"Last-Event-ID": header.strip().encode("latin-1")}
        params = {} if query is None else {"last_event_id": query}
        with (
            httpx.Client(base_url=persona.url, cookies=persona.cookies, timeout=30) as client,
            client.stream("GET", "/api/events", headers=headers, params=params) as response,
        ):
            assert response.status_code in documented, (header, query, response.status_code)
            if response.status_code != 200:
                response.read()
                error = response.json()["error"]
                assert sorted(error) == ["code", "details", "message"], response.text
                return
            assert response.headers["content-type"].startswith("text/event-stream")
            # The stream's preamble (a retry hint, then the comment), no further.
            opening = []
            for line in response.iter_lines():
                opening.append(line)
                if line.startswith(": connected") or len(opening) == 4:
                    break
            assert opening[-1].startswith(": connected"), opening
            streamed += 1

    answers_as_documented()
    assert streamed > 0  # the good requests among them really streamed
