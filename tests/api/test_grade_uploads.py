"""The grade-upload and roster API over HTTP: 202 at once, live progress, limits, errors."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.courses import members
from gradeflow.db import transaction
from gradeflow.settings import Settings
from tests.factories import PASSWORD, create_account, xlsx_bomb


async def signed_in_teacher(
    app: FastAPI, factory: async_sessionmaker[AsyncSession]
) -> tuple[httpx.AsyncClient, int]:
    teacher_id = await create_account(factory, "t@example.org", role=Role.teacher)
    for i in range(3):
        await create_account(factory, f"s{i}@example.org", student_number=f"N{i}")
    async with transaction(factory) as session:
        course = await members.create_course(
            session, teacher=await session.get_one(User, teacher_id), slug="c", title="C"
        )
        await members.enrol_student(session, course, email="s0@example.org")
        course_id = course.id
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    response = await client.post(
        "/api/auth/login", json={"email": "t@example.org", "password": PASSWORD}
    )
    assert response.status_code == 200
    return client, course_id


async def wait_final(client: httpx.AsyncClient, upload_id: int) -> dict:
    deadline = time.monotonic() + 30
    body: dict = {}
    while time.monotonic() < deadline:
        body = (await client.get(f"/api/grade-uploads/{upload_id}")).json()
        if body["status"] not in ("queued", "running"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"upload {upload_id} not finished: {body}")


async def wait_reverted(client: httpx.AsyncClient, upload_id: int) -> dict:
    """The upload once its requested revert has ended (bounded, generous for a loaded box)."""
    deadline = time.monotonic() + 120
    body: dict = {}
    while time.monotonic() < deadline:
        body = (await client.get(f"/api/grade-uploads/{upload_id}")).json()
        if body["revert_status"] not in ("queued", "running"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"upload {upload_id} not reverted: {body}")


async def test_an_upload_answers_202_at_once_and_is_applied_by_the_in_process_worker(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    client, course_id = await signed_in_teacher(app, session_factory)
    async with contextlib.aclosing(client):
        content = b"Student;Grade;Comment\r\ns0@example.org;8,5;fine\r\n"
        response = await client.post(
            f"/api/courses/{course_id}/grade-uploads",
            files={"file": ("grades.csv", content, "text/csv")},
            data={"dry_run": "false"},
        )
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued"
        body = await wait_final(client, response.json()["id"])
        assert body["status"] == "applied", body
        assert (body["rows_total"], body["rows_done"], body["errors"]) == (1, 1, [])
        assert body["changes"] == [
            {
                "student": "s0@example.org",
                "assessment": "final",
                "old": None,
                "new": 8.5,
                "old_letter": None,
                "new_letter": None,
            }
        ]
        listed = (await client.get(f"/api/courses/{course_id}/grade-uploads")).json()
        assert [u["id"] for u in listed["items"]] == [body["id"]]
        reverted = await client.post(f"/api/grade-uploads/{body['id']}/revert", json={})
        assert reverted.status_code == 202
        assert (reverted.json()["status"], reverted.json()["revert_status"]) == (
            "applied",
            "queued",
        )
        assert not reverted.json()["can_revert"]
        body = await wait_reverted(client, body["id"])
        assert body["revert_status"] == "reverted", body
        assert body["reverted_at"]
        again = await client.post(f"/api/grade-uploads/{body['id']}/revert")
        assert again.status_code == 409


async def test_a_dry_run_is_applied_through_the_api(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    client, course_id = await signed_in_teacher(app, session_factory)
    async with contextlib.aclosing(client):
        response = await client.post(
            f"/api/courses/{course_id}/grade-uploads",
            files={"file": ("g.csv", b"student,grade\nN0,A\n")},
            data={"dry_run": "true"},
        )
        body = await wait_final(client, response.json()["id"])
        assert (body["status"], body["can_apply"], body["changes_total"]) == ("validated", True, 1)
        applied = await client.post(f"/api/grade-uploads/{body['id']}/apply", json={"force": False})
        assert applied.status_code == 202
        assert applied.json()["status"] == "queued"
        assert (await wait_final(client, body["id"]))["status"] == "applied"
        refused = await client.post(f"/api/grade-uploads/{body['id']}/apply")
        assert refused.status_code == 409


async def test_bad_requests_get_clear_errors_and_keep_nothing(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    client, course_id = await signed_in_teacher(app, session_factory)
    url = f"/api/courses/{course_id}/grade-uploads"
    blobs = settings.data_dir / "blobs"
    async with contextlib.aclosing(client):
        cases = [
            (dict(content=b"student,grade\n", headers={"content-type": "text/csv"}), 415),
            (dict(files={"other": ("g.csv", b"x")}), 422),
            (dict(files={"file": ("g.csv", b"x")}, data={"dry_run": "maybe"}), 422),
        ]
        for kwargs, status in cases:
            response = await client.post(url, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == status, response.text
            assert response.json()["error"]["message"]
        assert not blobs.exists() or list(blobs.iterdir()) == []
        failed = await client.post(url, files={"file": ("g.csv", b"\x89PNG\r\n\x1a\n0000")})
        body = await wait_final(client, failed.json()["id"])
        assert body["status"] == "failed"
        assert "PNG image" in body["message"]


async def test_a_file_over_the_limit_is_refused_with_413_and_not_kept(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession], course_dir
) -> None:
    from gradeflow.app import create_app

    small = create_app(settings.model_copy(update={"max_upload_mb": 1}))
    async with small.router.lifespan_context(small):
        client, course_id = await signed_in_teacher(small, session_factory)
        async with contextlib.aclosing(client):
            big = b"student,grade\n" + b"s0@example.org,1\n" * 70_000
            response = await client.post(
                f"/api/courses/{course_id}/grade-uploads", files={"file": ("g.csv", big)}
            )
            assert response.status_code == 413, response.text
            assert "1 MiB" in response.json()["error"]["message"]
            listed = (await client.get(f"/api/courses/{course_id}/grade-uploads")).json()
            assert listed["items"] == []
    blobs = settings.data_dir / "blobs"
    assert not blobs.exists() or list(blobs.iterdir()) == []


async def test_a_roster_enrols_everyone_or_nobody(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    client, course_id = await signed_in_teacher(app, session_factory)
    url = f"/api/courses/{course_id}/roster"
    async with contextlib.aclosing(client):
        bad = await client.post(
            url, files={"file": ("r.csv", b"student\ns1@example.org\nnobody@example.org\n")}
        )
        assert bad.status_code == 422
        assert bad.json()["error"]["details"]["errors"][0]["row"] == 3
        roster = (await client.get(f"/api/courses/{course_id}/students")).json()["items"]
        assert [s["email"] for s in roster] == ["s0@example.org"]
        good = await client.post(
            url,
            files={"file": ("r.csv", b"Student,Name\nS0@example.org,A\nN1,B\ns2@example.org,C\n")},
        )
        assert good.status_code == 200, good.text
        assert good.json() == {
            "rows": 3,
            "enrolled": 2,
            "already_enrolled": 1,
            "repeated": 0,
            "repeats": [],
        }
        junk = await client.post(url, files={"file": ("r.csv", b"%PDF-1.4 junk")})
        assert junk.status_code == 422
        assert "PDF" in junk.json()["error"]["message"]


async def test_a_roster_that_names_a_student_twice_counts_every_row_once(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    client, course_id = await signed_in_teacher(app, session_factory)
    url = f"/api/courses/{course_id}/roster"
    async with contextlib.aclosing(client):
        twice = await client.post(
            url, files={"file": ("r.csv", b"student\ns1@example.org\nS1@example.org\n")}
        )
        assert twice.status_code == 200, twice.text
        assert twice.json() == {
            "rows": 2,
            "enrolled": 1,
            "already_enrolled": 0,
            "repeated": 1,
            "repeats": [
                {
                    "row": 3,
                    "column": "student",
                    "message": "s1@example.org is named again (first on row 2); enrolled once.",
                }
            ],
        }
        # By email and by student number: the same student, and one already enrolled.
        both = await client.post(
            url,
            files={"file": ("r.csv", b"student\ns2@example.org\nN2\ns0@example.org\n")},
        )
        assert both.status_code == 200, both.text
        body = both.json()
        assert (body["rows"], body["enrolled"], body["already_enrolled"], body["repeated"]) == (
            3,
            1,
            1,
            1,
        )
        assert body["rows"] == body["enrolled"] + body["already_enrolled"] + body["repeated"]
        assert body["repeats"][0]["message"] == (
            "'N2' is s2@example.org again (first on row 2); enrolled once."
        )


async def test_a_roster_xlsx_that_unpacks_to_a_huge_cell_is_refused_with_422(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    client, course_id = await signed_in_teacher(app, session_factory)
    bomb = xlsx_bomb(128 * 1024 * 1024)  # ~130 KB; its sheet unpacks to 128 MiB
    async with contextlib.aclosing(client):
        refused = await client.post(
            f"/api/courses/{course_id}/roster", files={"file": ("r.xlsx", bomb)}
        )
        assert refused.status_code == 422, refused.text
        message = refused.json()["error"]["message"]
        assert "xl/worksheets/sheet1.xml unpacks to 134,217," in message
        assert "20 times the upload limit" in message
