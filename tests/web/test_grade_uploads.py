"""The grade-upload pages: upload with CSRF, follow an upload, apply a dry run."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.test_grade_uploads import signed_in_teacher
from tests.conftest import STARTING_EVENT_ID, read_before, recorded_statements


async def test_a_teacher_uploads_a_dry_run_on_the_page_and_applies_it(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    client, course_id = await signed_in_teacher(app, session_factory)
    async with contextlib.aclosing(client):
        page = await client.get(f"/courses/{course_id}/grade-uploads")
        assert page.status_code == 200
        assert "No grade files uploaded yet" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        files = {"file": ("g.csv", b"student,grade\ns0@example.org,7\n")}
        refused = await client.post(
            f"/courses/{course_id}/grade-uploads", files=files, data={"csrf_token": "forged"}
        )
        assert refused.status_code == 403
        assert (await client.get(f"/api/courses/{course_id}/grade-uploads")).json()["items"] == []
        posted = await client.post(
            f"/courses/{course_id}/grade-uploads",
            files=files,
            data={"csrf_token": csrf.group(1), "dry_run": "true"},
        )
        assert posted.status_code == 303
        target = posted.headers["location"]
        deadline = time.monotonic() + 30
        while "Apply these changes" not in (shown := (await client.get(target)).text):
            assert time.monotonic() < deadline, shown
            await asyncio.sleep(0.05)
        assert "Would change 1 of 1 grades" in shown
        with recorded_statements() as statements:
            await client.get(target)
        assert read_before(statements, STARTING_EVENT_ID, "FROM grade_uploads")
        assert "s0@example.org" in shown
        token = re.search(r'name="csrf_token" value="([^"]+)"', shown)
        assert token is not None
        applied = await client.post(f"{target}/apply", data={"csrf_token": token.group(1)})
        assert applied.status_code == 303
        while "Revert this upload" not in (shown := (await client.get(target)).text):
            assert time.monotonic() < deadline, shown
            await asyncio.sleep(0.05)
        assert "Changed 1 of 1 grades" in shown


async def test_the_pages_send_visitors_to_sign_in_and_refuse_students(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    client, course_id = await signed_in_teacher(app, session_factory)
    async with contextlib.aclosing(client):
        await client.post("/api/auth/logout")
        client.cookies.clear()
        anonymous = await client.get(f"/courses/{course_id}/grade-uploads")
        assert anonymous.status_code == 303
        assert "/sign-in" in anonymous.headers["location"]
        await client.post(
            "/api/auth/login", json={"email": "s0@example.org", "password": "correct horse battery"}
        )
        student = await client.get(
            f"/courses/{course_id}/grade-uploads", headers={"accept": "text/html"}
        )
        assert student.status_code == 403
