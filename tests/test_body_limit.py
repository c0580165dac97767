"""The general bound on request bodies, and the routes that keep larger limits of their own."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.app import create_app
from gradeflow.courses import members
from gradeflow.db import transaction
from gradeflow.settings import DEFAULT_MAX_BODY_BYTES, Settings
from tests.factories import PASSWORD, authored_assignment, create_account

CHUNK = 64 * 1024


def login_body(padding: int) -> bytes:
    return json.dumps({"email": "a@example.org", "password": "x" * padding}).encode()


async def test_a_json_body_over_the_limit_is_refused_before_it_is_parsed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/auth/login",
        content=login_body(2 * DEFAULT_MAX_BODY_BYTES),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert str(DEFAULT_MAX_BODY_BYTES) in error["message"]


async def test_a_streamed_body_is_refused_once_it_passes_the_limit_without_reading_on(
    client: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"email": "a@example.org", "password": "'
        for _ in range(16 * DEFAULT_MAX_BODY_BYTES // CHUNK):
            sent += 1
            yield b"x" * CHUNK
        yield b'"}'

    # No Content-Length: the body arrives chunk by chunk as the app reads it.
    response = await client.post(
        "/api/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "too_large"
    assert sent <= DEFAULT_MAX_BODY_BYTES // CHUNK + 1


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be"])
async def test_json_in_utf16_or_utf32_is_refused_as_invalid(
    client: httpx.AsyncClient, encoding: str
) -> None:
    body = json.dumps({"email": "nobody@example.org", "password": PASSWORD}).encode(encoding)
    response = await client.post(
        "/api/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "UTF-8" in error["message"]


async def test_uploads_authoring_and_previews_keep_their_larger_limits(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    limit = 4096
    app = create_app(settings.model_copy(update={"max_body_bytes": limit}), grading=False)
    teacher_id = await create_account(session_factory, "t@example.org", role=Role.teacher)
    async with transaction(session_factory) as session:
        teacher = await session.get_one(User, teacher_id)
        course_id = (await members.create_course(session, teacher=teacher, slug="c", title="C")).id
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        padded = await client.post(
            "/api/auth/login",
            json={"email": "t@example.org", "password": PASSWORD, "x": "y" * limit},
        )
        assert padded.status_code == 413, padded.text
        signed_in = await client.post(
            "/api/auth/login", json={"email": "t@example.org", "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text

        rows = "".join(f"s{i}@example.org,{i % 10}\n" for i in range(2000))
        upload = await client.post(
            f"/api/courses/{course_id}/grade-uploads",
            files={"file": ("grades.csv", f"student,grade\n{rows}".encode(), "text/csv")},
            data={"dry_run": "true"},
        )
        assert upload.status_code == 202, upload.text

        handout = "# Sum\n\n" + "Add two numbers. " * 1000
        created = await client.post(
            f"/api/courses/{course_id}/assignments",
            json=authored_assignment(handout_md=handout),
        )
        assert created.status_code == 201, created.text
        preview = await client.post("/api/handout-preview", json={"markdown": handout})
        assert preview.status_code == 200, preview.text
