"""The services-mode pipeline with real processes: web → RabbitMQ → worker → Redis → SSE."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import closing
from pathlib import Path

import aio_pika
import httpx
import pytest
from sqlalchemy import func, select

from gradeflow.accounts.models import Role
from gradeflow.accounts.service import create_user
from gradeflow.courses.models import Course, CourseMember, MemberRole
from gradeflow.db import create_engine, create_session_factory, transaction
from gradeflow.events.models import Event
from gradeflow.grading.messages import GradeJob
from gradeflow.grading.models import Submission
from gradeflow.settings import Settings
from tests.factories import ADDER_SOLUTION, ADDER_WRONG, authored_assignment
from tests.services.conftest import (
    BROKER_URL,
    WebProcess,
    new_student,
    submit,
    wait_graded,
    worker_process,
)

pytestmark = pytest.mark.usefixtures("course")


async def publish_raw(settings: Settings, body: bytes, times: int = 1) -> None:
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel()
        for _ in range(times):
            await channel.default_exchange.publish(
                aio_pika.Message(body), routing_key=f"{settings.queue_prefix}.grading"
            )


async def dead_letters(settings: Settings) -> int:
    connection = await aio_pika.connect(BROKER_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{settings.queue_prefix}.grading.dead", passive=True)
        return int(queue.declaration_result.message_count or 0)


async def count_rows(settings: Settings, model: type) -> int:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


def read_until(stream: httpx.Response, status: str, seen: list[dict], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    current: dict = {}
    for line in stream.iter_lines():
        assert time.monotonic() < deadline, f"no {status} event: {seen}"
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif not line and "data" in current:
            seen.append(current)
            if current["data"]["submission"]["status"] == status:
                return
            current = {}


def test_a_submission_is_graded_by_a_worker_process_and_streamed_by_another_web_process(
    settings: Settings,
) -> None:
    web_a, web_b = WebProcess(settings), WebProcess(settings)
    worker = worker_process(settings)
    try:
        with (
            httpx.Client(base_url=web_a.url, timeout=30) as a,
            httpx.Client(base_url=web_b.url, timeout=30) as b,
        ):
            a.post("/api/session")
            b.cookies = a.cookies  # the same student on another web process
            assignment = a.get("/api/assignments/next").json()
            events: list[dict] = []
            with b.stream("GET", "/api/events") as stream:
                accepted = a.post(
                    f"/api/assignments/{assignment['id']}/submissions", json={"code": ADDER_WRONG}
                )
                assert accepted.status_code == 202
                read_until(stream, "failed", events)
            assert [e["data"]["submission"]["status"] for e in events] == [
                "queued",
                "running",
                "failed",
            ]
            # Cached reads are purged by the worker's write: the second web process sees it.
            listed = b.get("/api/submissions").json()["items"]
            assert [s["status"] for s in listed] == ["failed"]
            passed = a.post(
                f"/api/assignments/{assignment['id']}/submissions", json={"code": ADDER_SOLUTION}
            )
            assert wait_graded(b, passed.json()["id"])["status"] == "passed"
            assert b.get("/api/me").json()["points"] == 10.0
            assert a.get("/readyz").json()["checks"] == {
                "database": "ok",
                "queue": "ok",
                "cache": "ok",
            }
            metrics = a.get("/metrics").text
            assert "gradeflow_http_request_seconds_bucket" in metrics
            assert 'gradeflow_queue_depth{queue="grading"} 0.0' in metrics
            assert accepted.headers["x-request-id"]
    finally:
        for process in (web_a, web_b, worker):
            process.kill()


def test_duplicate_and_malformed_messages_are_harmless(settings: Settings) -> None:
    web = WebProcess(settings)
    try:
        with closing(new_student(web)) as client:
            accepted = submit(client, ADDER_SOLUTION).json()
            # Before any worker runs: the same job four more times, plus poison.
            asyncio.run(publish_raw(settings, GradeJob(accepted["id"]).encode(), times=4))
            asyncio.run(publish_raw(settings, b"{not json"))
            worker = worker_process(settings)
            try:
                graded = wait_graded(client, accepted["id"])
                time.sleep(1.5)  # every duplicate reaches the worker and is skipped
            finally:
                worker.kill()
        assert graded["status"] == "passed"
        assert graded["attempts"] == 1
        assert asyncio.run(count_rows(settings, Submission)) == 1
        assert asyncio.run(count_rows(settings, Event)) == 3  # queued, running, passed
        assert asyncio.run(dead_letters(settings)) == 1
    finally:
        web.kill()


async def make_teacher(settings: Settings) -> None:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with transaction(create_session_factory(engine)) as session:
            teacher = await create_user(
                session, email="teach@example.org", password="teacher-pass", role=Role.teacher
            )
            # Only the course's own teachers regrade it.
            for course_id in await session.scalars(select(Course.id)):
                session.add(
                    CourseMember(course_id=course_id, user_id=teacher.id, role=MemberRole.teacher)
                )
    finally:
        await engine.dispose()


def test_a_regrade_grades_every_submission_again_exactly_once(settings: Settings) -> None:
    asyncio.run(make_teacher(settings))
    web = WebProcess(settings)
    worker = worker_process(settings)
    try:
        ids = []
        for code in (ADDER_SOLUTION, ADDER_WRONG, ADDER_SOLUTION + "# other\n"):
            with httpx.Client(base_url=web.url, timeout=30) as student:
                student.post("/api/session")
                assignment = student.get("/api/assignments/next").json()
                accepted = student.post(
                    f"/api/assignments/{assignment['id']}/submissions", json={"code": code}
                )
                ids.append(accepted.json()["id"])
                wait_graded(student, ids[-1])
        with httpx.Client(base_url=web.url, timeout=30) as teacher:
            assert teacher.post(f"/api/assignments/{assignment['id']}/regrade").status_code == 401
            teacher.post(
                "/api/auth/login", json={"email": "teach@example.org", "password": "teacher-pass"}
            )
            started = teacher.post(f"/api/assignments/{assignment['id']}/regrade")
            assert started.status_code == 202
            assert started.json()["total"] == 3
            deadline = time.monotonic() + 60
            while teacher.get(f"/api/assignments/{assignment['id']}/regrade").json()["remaining"]:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        engine_rows = asyncio.run(_regraded(settings, ids))
        assert [(status, attempts, generation) for status, attempts, generation in engine_rows] == [
            ("passed", 1, 1),
            ("failed", 1, 1),
            ("passed", 1, 1),
        ]
    finally:
        web.kill()
        worker.kill()


async def _regraded(settings: Settings, ids: list[int]) -> list[tuple[str, int, int]]:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Submission.status, Submission.attempts, Submission.generation)
                .where(Submission.id.in_(ids))
                .order_by(Submission.id)
            )
            return [(str(s), a, g) for s, a, g in rows.all()]
    finally:
        await engine.dispose()


def test_the_regrade_command_publishes_jobs_and_shows_progress(settings: Settings) -> None:
    import subprocess
    import sys

    from tests.services.conftest import ROOT, environment

    web = WebProcess(settings)
    worker = worker_process(settings)
    try:
        with closing(new_student(web)) as student:
            accepted = submit(student, ADDER_SOLUTION)
            regraded_id = wait_graded(student, accepted.json()["id"])["assignment_id"]
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "gradeflow",
                    "assignments",
                    "regrade",
                    str(regraded_id),
                ],
                env=environment(settings),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert "regrading 1 submissions of 'Add two numbers'" in result.stdout
            assert result.stdout.rstrip().endswith("1/1 done")
            regraded = student.get(f"/api/submissions/{accepted.json()['id']}").json()
        assert (regraded["status"], regraded["attempts"]) == ("passed", 1)
    finally:
        web.kill()
        worker.kill()


def test_an_authored_assignment_is_checked_by_a_worker_process_not_the_web_one(
    settings: Settings,
) -> None:
    asyncio.run(make_teacher(settings))
    web = WebProcess(settings)
    worker = None
    try:
        with httpx.Client(base_url=web.url, timeout=30) as teacher:
            teacher.post(
                "/api/auth/login", json={"email": "teach@example.org", "password": "teacher-pass"}
            )
            course_id = teacher.get("/api/courses").json()["items"][0]["id"]
            base = f"/api/courses/{course_id}/assignments"
            created = teacher.post(base, json=authored_assignment())
            assert created.status_code == 201, created.text
            url = f"{base}/{created.json()['id']}"
            # No worker yet: the web process has no sandbox, so the check waits queued.
            time.sleep(1)
            assert teacher.get(url).json()["check"]["status"] == "queued"
            worker = worker_process(settings)
            deadline = time.monotonic() + 60
            while (body := teacher.get(url).json())["check"]["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, body
                time.sleep(0.1)
            assert (body["state"], body["check"]["status"]) == ("published", "passed")
        with closing(new_student(web)) as student:
            titles = [i["title"] for i in student.get("/api/assignments").json()["items"]]
            assert "Sum by API" in titles
    finally:
        web.kill()
        if worker is not None:
            worker.kill()


def test_the_regrade_preview_command_prints_who_gains_and_who_loses(
    settings: Settings, course_dir: Path
) -> None:
    import subprocess
    import sys

    from tests.api.test_previews import NEW_TESTS, ZERO_BUG
    from tests.conftest import import_course_dir
    from tests.services.conftest import ROOT, environment

    web = WebProcess(settings)
    worker = worker_process(settings)
    try:
        with closing(new_student(web)) as gains, closing(new_student(web)) as loses:
            first = wait_graded(gains, submit(gains, ADDER_WRONG).json()["id"])
            wait_graded(loses, submit(loses, ZERO_BUG).json()["id"])
            (course_dir / "adder" / "tests.py").write_text(NEW_TESTS)
            asyncio.run(import_course_dir(settings, course_dir))
            command = ["assignments", "regrade", str(first["assignment_id"]), "--preview"]
            result = subprocess.run(
                [sys.executable, "-m", "gradeflow", *command],
                env=environment(settings),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, result.stdout + result.stderr
            points = [student.get("/api/me").json()["points"] for student in (gains, loses)]
        lines = result.stdout.rstrip().splitlines()
        assert lines[0].startswith("preview 1: grading 2 submissions of 'Add two numbers' again")
        assert lines[-3] == "preview ready: 1 gain, 1 lose, 0 unchanged, mean change +0"
        assert lines[-2].startswith("  -5  Guest #")
        assert lines[-2].endswith(
            ": 10 -> 5 (AddTest.test_adds_negative_numbers passed->missing, "
            "AddTest.test_adds_zeros missing->failed)"
        )
        assert lines[-1].startswith("  +5  Guest #")
        # Only a preview: no score changed.
        assert points == [0.0, 10.0]
    finally:
        web.kill()
        worker.kill()


def test_what_one_web_process_cached_is_purged_by_a_result_another_process_recorded(
    settings: Settings,
) -> None:
    first, second = WebProcess(settings), WebProcess(settings)
    worker = worker_process(settings)
    student = new_student(first)
    same_student = httpx.Client(base_url=second.url, timeout=30, cookies=student.cookies)
    try:
        # Each web process now holds the student's answers in its own cache.
        for client in (student, same_student):
            assert client.get("/api/me").json()["points"] == 0
            assert client.get("/api/submissions").json()["items"] == []
        accepted = submit(student, ADDER_SOLUTION)
        wait_graded(student, accepted.json()["id"])
        # The worker recorded the result; its purge reached the other process too.
        # (A purge lost there would leave the old answers for the cache's 60 s TTL.)
        deadline = time.monotonic() + 5
        while same_student.get("/api/me").json()["points"] == 0:
            assert time.monotonic() < deadline, "the second web process kept its stale answer"
            time.sleep(0.05)
        items = same_student.get("/api/submissions").json()["items"]
        assert [item["status"] for item in items] == ["passed"]
    finally:
        student.close()
        same_student.close()
        worker.kill()
        first.kill()
        second.kill()
