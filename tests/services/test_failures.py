"""Failure behaviour against the real services: kills, outages and restarts lose nothing.

The services stopped here are this module's own (``private.py``), on loopback; every
loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import select

from gradeflow.db import create_engine
from gradeflow.events.models import Event
from gradeflow.grading.models import Submission
from gradeflow.migrate import create_database_if_missing, upgrade_database
from gradeflow.settings import Settings
from tests.factories import ADDER_SOLUTION
from tests.services.conftest import (
    WebProcess,
    new_student,
    services_settings,
    submit,
    wait_graded,
    worker_process,
)
from tests.services.private import PrivateServices

pytestmark = [pytest.mark.usefixtures("course"), pytest.mark.postgres]
TEMPLATE = "gradeflow_test_template"
SLOW_SOLUTION = "import time\ntime.sleep(1.5)\n" + ADDER_SOLUTION
FINAL = {"passed", "failed", "error"}


@pytest.fixture(scope="module")
def private() -> Iterator[PrivateServices]:
    services = PrivateServices.start()
    try:
        create_database_if_missing(services.database_url(TEMPLATE))
        upgrade_database(services.database_url(TEMPLATE))
        yield services
    finally:
        services.close()


async def create_database(private: PrivateServices, name: str) -> None:
    connection = await asyncpg.connect(private.postgres_admin_dsn)
    try:
        await connection.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    finally:
        await connection.close()


@pytest.fixture
def settings(tmp_path: Path, private: PrivateServices) -> Iterator[Settings]:
    """A database of its own on the private cluster (which goes with the module)."""
    private.ensure_up()
    name = f"gradeflow_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_database(private, name))
    yield from services_settings(
        tmp_path, private.database_url(name), private.broker_url, private.redis_url
    )


async def final_events(settings: Settings) -> dict[int, list[str]]:
    """Per submission, the final statuses its events announced."""
    engine = create_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as connection:
            payloads = (
                await connection.execute(select(Event.payload).order_by(Event.id))
            ).scalars()
            finals: dict[int, list[str]] = {}
            for payload in payloads:
                submission = payload["submission"]
                finals.setdefault(submission["id"], [])
                if submission["status"] in FINAL:
                    finals[submission["id"]].append(submission["status"])
            return finals
    finally:
        await engine.dispose()


async def submissions(settings: Settings) -> list[Submission]:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as connection:
            return list(
                (await connection.execute(select(Submission).order_by(Submission.id))).all()
            )  # type: ignore[arg-type]
    finally:
        await engine.dispose()


def test_killing_workers_mid_run_twenty_times_loses_and_doubles_nothing(settings: Settings) -> None:
    # Each kill costs an attempt to every submission the worker had claimed, and a worker
    # claims ahead: on a loaded machine one submission can be in several killed workers'
    # hands. Twenty kills and the survivor's claim can cost at most 21 attempts.
    settings = settings.model_copy(update={"max_attempts": 25})
    web = WebProcess(settings)
    accepted: list[int] = []
    try:
        for _ in range(20):
            worker = worker_process(settings, concurrency=1)
            student = new_student(web)
            try:
                response = submit(student, SLOW_SOLUTION)
                assert response.status_code == 202
                accepted.append(response.json()["id"])
                deadline = time.monotonic() + 30
                while student.get(f"/api/submissions/{accepted[-1]}").json()["status"] == "queued":
                    assert time.monotonic() < deadline, "never started"
                    time.sleep(0.02)
            finally:
                student.close()
                worker.kill(signal.SIGKILL)
        survivor = worker_process(settings, concurrency=2)
        try:
            deadline = time.monotonic() + 120
            while not all(row.status in FINAL for row in asyncio.run(submissions(settings))):
                assert time.monotonic() < deadline, "not every submission was graded"
                time.sleep(0.5)
        finally:
            survivor.kill(signal.SIGTERM)
        rows = asyncio.run(submissions(settings))
        assert [row.id for row in rows] == accepted
        assert {row.status for row in rows} == {"passed"}
        # The kills did land mid-run (on a loaded machine a run may finish before its
        # kill, so not every one), and each has exactly one final result.
        assert sum(row.attempts >= 2 for row in rows) >= len(rows) // 2, [r.attempts for r in rows]
        finals = asyncio.run(final_events(settings))
        assert all(finals[i] == ["passed"] for i in accepted), finals
    finally:
        web.kill()


def test_submits_while_rabbitmq_is_down_are_accepted_and_graded_after_it_returns(
    settings: Settings, private: PrivateServices
) -> None:
    web = WebProcess(settings)
    worker = worker_process(settings)
    students = [new_student(web) for _ in range(3)]
    try:
        private.stop("rabbitmq")
        try:
            responses = [
                submit(student, ADDER_SOLUTION + f"# {i}\n") for i, student in enumerate(students)
            ]
            assert [r.status_code for r in responses] == [202, 202, 202]
            assert {r.json()["status"] for r in responses} == {"queued"}
            ready = students[0].get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["error"]["details"]["queue"] == "unreachable"
        finally:
            private.restart("rabbitmq")
        for student, response in zip(students, responses, strict=True):
            assert wait_graded(student, response.json()["id"], timeout=90)["status"] == "passed"
        deadline = time.monotonic() + 30
        while students[0].get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the web process never reconnected"
            time.sleep(0.2)
        # Publishing works again from the web process itself.
        students.append(new_student(web))
        again = submit(students[-1], ADDER_SOLUTION + "# after\n")
        assert again.json()["status"] == "queued"
        assert wait_graded(students[-1], again.json()["id"])["status"] == "passed"
    finally:
        for student in students:
            student.close()
        web.kill()
        worker.kill()


def test_pages_and_api_work_while_redis_is_down_and_live_events_resume_after(
    settings: Settings, private: PrivateServices
) -> None:
    web = WebProcess(settings)
    worker = worker_process(settings)
    student = new_student(web)
    try:
        private.stop("redis")
        try:
            assert student.get("/", headers={"Accept": "text/html"}).status_code == 200
            assert student.get("/api/practice").status_code == 200
            assert student.get("/api/assignments").status_code == 200
            first = submit(student, ADDER_SOLUTION)
            assert first.status_code == 202
            assert wait_graded(student, first.json()["id"])["status"] == "passed"
            assert student.get("/api/me").json()["points"] == 10.0
            assert student.get("/readyz").json()["error"]["details"]["cache"] == "unreachable"
        finally:
            private.restart("redis")
        deadline = time.monotonic() + 30
        while student.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # Live events flow again through Redis: a new result arrives on the stream.
        student.close()
        student = new_student(web)
        with student.stream("GET", "/api/events") as stream:
            second = submit(student, ADDER_SOLUTION + "# again\n")
            statuses = []
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    data = json.loads(line[6:])
                    if data["submission"]["id"] == second.json()["id"]:
                        statuses.append(data["submission"]["status"])
                        if data["submission"]["status"] in FINAL:
                            break
                assert time.monotonic() < deadline + 30
        assert statuses[-1] == "passed"
    finally:
        student.close()
        web.kill()
        worker.kill()


def test_while_postgres_is_down_requests_get_503_and_recover_without_a_restart(
    settings: Settings, private: PrivateServices
) -> None:
    web = WebProcess(settings)
    student = new_student(web)
    try:
        assert student.get("/api/me").status_code == 200
        private.stop("postgres")
        try:
            # What the cache holds still answers; what needs the database says why not.
            assert student.get("/api/me").status_code == 200
            down = student.get("/api/courses")
            assert down.status_code == 503
            assert down.json()["error"]["code"] == "unavailable"
            ready = student.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["error"]["details"]["database"] == "unreachable"
        finally:
            private.restart("postgres")
        deadline = time.monotonic() + 30
        while student.get("/api/courses").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert student.get("/readyz").status_code == 200
    finally:
        student.close()
        web.kill()


def test_a_killed_web_process_loses_no_final_result_for_a_client_that_reconnects_elsewhere(
    settings: Settings,
) -> None:
    web_a, web_b = WebProcess(settings), WebProcess(settings)
    worker = worker_process(settings)
    client = new_student(web_a)
    last_id = 0
    try:
        with client.stream("GET", "/api/events") as stream:
            accepted = submit(client, "import time\ntime.sleep(1.5)\n" + ADDER_SOLUTION)
            for line in stream.iter_lines():
                if line.startswith("id: "):
                    last_id = int(line[4:])
                    break
            web_a.kill(signal.SIGKILL)
        other = httpx.Client(base_url=web_b.url, timeout=30, cookies=client.cookies)
        statuses = []
        deadline = time.monotonic() + 30
        with other.stream("GET", "/api/events", headers={"Last-Event-ID": str(last_id)}) as stream:
            for line in stream.iter_lines():
                assert time.monotonic() < deadline
                if line.startswith("data: "):
                    statuses.append(json.loads(line[6:])["submission"]["status"])
                    if statuses[-1] in FINAL:
                        break
        assert statuses[-1] == "passed"
        assert other.get(f"/api/submissions/{accepted.json()['id']}").json()["status"] == "passed"
        other.close()
    finally:
        client.close()
        web_b.kill()
        worker.kill()
