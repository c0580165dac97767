"""A grade file through services mode: web process → large object → RabbitMQ → worker."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import func, select, text

from gradeflow.accounts.models import Role, User
from gradeflow.courses import members
from gradeflow.db import create_engine, create_session_factory, transaction
from gradeflow.grades.models import Grade
from gradeflow.settings import Settings
from tests.factories import PASSWORD, create_account
from tests.services.conftest import WebProcess, worker_process


async def _course_with_students(settings: Settings) -> int:
    engine = create_engine(settings.resolved_database_url)
    try:
        factory = create_session_factory(engine)
        teacher_id = await create_account(factory, "t@example.org", role=Role.teacher)
        for i in range(3):
            await create_account(factory, f"s{i}@example.org")
        async with transaction(factory) as session:
            teacher = await session.get_one(User, teacher_id)
            course = await members.create_course(session, teacher=teacher, slug="c", title="C")
            for i in range(3):
                await members.enrol_student(session, course, email=f"s{i}@example.org")
            return course.id
    finally:
        await engine.dispose()


async def _counts(settings: Settings) -> tuple[int, int]:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as connection:
            grades = await connection.scalar(select(func.count()).select_from(Grade))
            blobs = await connection.scalar(text("SELECT count(*) FROM pg_largeobject_metadata"))
            return int(grades or 0), int(blobs or 0)
    finally:
        await engine.dispose()


def test_a_grade_file_is_imported_by_a_worker_process_from_a_large_object(
    settings: Settings,
) -> None:
    course_id = asyncio.run(_course_with_students(settings))
    web = WebProcess(settings)
    worker = worker_process(settings)
    try:
        with httpx.Client(base_url=web.url, timeout=30) as client:
            login = client.post(
                "/api/auth/login", json={"email": "t@example.org", "password": PASSWORD}
            )
            assert login.status_code == 200
            content = b"student,grade\n" + b"".join(
                f"s{i}@example.org,{i}\n".encode() for i in range(3)
            )
            response = client.post(
                f"/api/courses/{course_id}/grade-uploads", files={"file": ("g.csv", content)}
            )
            assert response.status_code == 202, response.text
            deadline = time.monotonic() + 60
            body: dict = {}
            while time.monotonic() < deadline:
                body = client.get(f"/api/grade-uploads/{response.json()['id']}").json()
                if body["status"] not in ("queued", "running"):
                    break
                time.sleep(0.1)
            assert body["status"] == "applied", (body, worker.output())
            assert body["changes_total"] == 3
            # The file travelled as a large object and is deleted just after the
            # import ended (the worker reports the end first): wait for it, bounded.
            counts = asyncio.run(_counts(settings))
            while counts[1] and time.monotonic() < deadline:
                time.sleep(0.1)
                counts = asyncio.run(_counts(settings))
            assert counts == (3, 0), worker.output()
    finally:
        worker.kill()
        web.kill()
