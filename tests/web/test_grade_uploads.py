"""The grade-upload pages: upload with CSRF, follow an upload, apply a dry run."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import User
from gradeflow.db import transaction
from gradeflow.events.models import Event
from gradeflow.grades.models import GradeUpload
from gradeflow.settings import Settings
from tests.api.test_grade_uploads import signed_in_teacher
from tests.conftest import STARTING_EVENT_ID, read_before, recorded_statements
from tests.factories import add_finished_uploads

HTML = {"accept": "text/html"}


def csrf_of(page: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, page
    return token[1]


async def stored_upload(
    factory: async_sessionmaker[AsyncSession], upload_id: int
) -> tuple[dict[str, Any], int]:
    """Every column of the upload and how many events there are: what an action changes."""
    async with factory() as session:
        upload = await session.get_one(GradeUpload, upload_id)
        columns = {c.key: getattr(upload, c.key) for c in GradeUpload.__table__.columns}
        events = await session.scalar(select(func.count(Event.id)))
    return columns, events or 0


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


# (which of the two uploads, the action, what the page says)
REFUSED_ACTIONS = [
    ("applied", "apply", "Only a validated dry run can be applied; this upload is applied."),
    ("applied", "revert", "This upload was reverted already."),
    ("validated", "apply", "The file of this dry run is no longer kept"),
    ("validated", "revert", "Only an applied upload can be reverted; this one is validated."),
]


@pytest.mark.parametrize(("which", "action", "message"), REFUSED_ACTIONS)
async def test_a_refused_apply_or_revert_shows_the_page_with_why_and_changes_nothing(
    app: FastAPI,
    session_factory: async_sessionmaker[AsyncSession],
    which: str,
    action: str,
    message: str,
) -> None:
    client, course_id = await signed_in_teacher(app, session_factory)
    async with transaction(session_factory) as session:
        teacher_id = await session.scalar(select(User.id).where(User.email == "t@example.org"))
        assert teacher_id is not None
        applied, validated = await add_finished_uploads(
            session, course_id=course_id, teacher_id=teacher_id
        )
    upload_id = applied if which == "applied" else validated
    async with contextlib.aclosing(client):
        # A reverted upload's page has no form: the upload form's token does as well.
        page = await client.get(f"/courses/{course_id}/grade-uploads", headers=HTML)
        before = await stored_upload(session_factory, upload_id)
        refused = await client.post(
            f"/grade-uploads/{upload_id}/{action}",
            data={"csrf_token": csrf_of(page.text)},
            headers=HTML,
        )
        assert refused.status_code == 409, refused.text
        assert 'data-testid="form-error"' in refused.text
        assert message in refused.text
        assert "g.csv" in refused.text  # the upload's page again
        assert "t@example.org" in refused.text
        assert await stored_upload(session_factory, upload_id) == before


async def test_applying_a_dry_run_again_from_a_second_tab_says_it_is_applied_already(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    client, course_id = await signed_in_teacher(app, session_factory)
    async with contextlib.aclosing(client):
        form = await client.get(f"/courses/{course_id}/grade-uploads")
        posted = await client.post(
            f"/courses/{course_id}/grade-uploads",
            files={"file": ("g.csv", b"student,grade\ns0@example.org,7\n")},
            data={"csrf_token": csrf_of(form.text), "dry_run": "true"},
        )
        target = posted.headers["location"]
        deadline = time.monotonic() + 30
        while "Apply these changes" not in (shown := (await client.get(target)).text):
            assert time.monotonic() < deadline, shown
            await asyncio.sleep(0.05)
        # Both tabs show the same form; the first one's apply goes through.
        token = csrf_of(shown)
        first = await client.post(f"{target}/apply", data={"csrf_token": token})
        assert first.status_code == 303
        second = await client.post(f"{target}/apply", data={"csrf_token": token}, headers=HTML)
        assert second.status_code == 409, second.text
        assert "Only a validated dry run can be applied" in second.text
        upload_id = int(target.rsplit("/", 1)[1])
        async with session_factory() as session:
            upload = await session.get_one(GradeUpload, upload_id)
        assert upload.dry_run is False  # applied once, by the first tab


async def test_a_file_over_the_limit_sent_from_the_page_gets_a_page_saying_so_with_a_way_back(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], course_dir: object
) -> None:
    from gradeflow.app import create_app

    small = create_app(settings.model_copy(update={"max_upload_mb": 1}))
    async with small.router.lifespan_context(small):
        client, course_id = await signed_in_teacher(small, session_factory)
        async with contextlib.aclosing(client):
            form_page = f"http://testserver/courses/{course_id}/grade-uploads"
            form = await client.get(form_page)
            big = b"student,grade\n" + b"s0@example.org,1\n" * 70_000
            refused = await client.post(
                f"/courses/{course_id}/grade-uploads",
                files={"file": ("g.csv", big)},
                data={"csrf_token": csrf_of(form.text)},
                headers=HTML | {"referer": form_page},
            )
            assert refused.status_code == 413, refused.text
            assert "The file is larger than 1 MiB, the upload limit." in refused.text
            assert "<h1>Too large to accept</h1>" in refused.text
            assert f'<a href="/courses/{course_id}/grade-uploads">' in refused.text
            assert 'data-testid="account-link">t@example.org<' in refused.text
            listed = await client.get(f"/api/courses/{course_id}/grade-uploads")
            assert listed.json()["items"] == []
