"""Regrade previews over HTTP, graded in the real sandbox, on SQLite and PostgreSQL.

Five students submit to "adder"; then its tests change (the negative-numbers test
is replaced by an adding-zeros one), so two students gain, two lose and one keeps
their points. A preview shows exactly that without touching a score; applying it
with each policy gives exactly the expected points.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role
from gradeflow.courses import members
from gradeflow.courses.models import Course
from gradeflow.db import transaction
from gradeflow.events.models import Event
from gradeflow.grading.models import Submission
from gradeflow.settings import Settings
from tests.conftest import import_course_dir, wait_for_final
from tests.factories import (
    ADDER_HALF,
    ADDER_SOLUTION,
    ADDER_WRONG,
    PASSWORD,
    create_account,
)

Factory = async_sessionmaker[AsyncSession]

NEW_TESTS = """
import unittest

from adder import add


class AddTest(unittest.TestCase):
    def test_adds_two_numbers(self):
        self.assertEqual(add(2, 3), 5, "2 + 3 should be 5")

    def test_adds_zeros(self):
        self.assertEqual(add(0, 0), 0)
"""
# Passes the old tests, fails the new adding-zeros one.
ZERO_BUG = "def add(a, b):\n    return a + b if a != 0 else -1\n"

TWO = "AddTest.test_adds_two_numbers"
NEGATIVE = "AddTest.test_adds_negative_numbers"
ZEROS = "AddTest.test_adds_zeros"


@dataclass
class Classroom:
    app: FastAPI
    teacher: httpx.AsyncClient
    adder_id: int
    students: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    submissions: dict[str, list[int]] = field(default_factory=dict)

    def label(self, name: str) -> str:
        return f"{name}@example.org" if name in REGISTERED else f"Guest #{self.user_ids[name]}"

    async def points(self) -> dict[str, float]:
        return {
            name: (await client.get("/api/me")).json()["points"]
            for name, client in self.students.items()
        }


REGISTERED = {"alice", "carol", "erin"}
# What each student submits, in order.
CODE = {
    "alice": [ADDER_SOLUTION],
    "bob": [ADDER_HALF],
    "carol": [ADDER_WRONG],
    "dave": [ZERO_BUG],
    "erin": [ZERO_BUG + "# mine\n", ADDER_WRONG + "# mine\n"],
}
POINTS_BEFORE = {"alice": 10.0, "bob": 5.0, "carol": 0.0, "dave": 10.0, "erin": 10.0}


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def _signed_in(app: FastAPI, email: str) -> httpx.AsyncClient:
    client = _client(app)
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


async def make_teacher_of_basics(factory: Factory, email: str) -> None:
    """Make the teacher ``email`` a teacher of the imported "basics" course."""
    async with transaction(factory) as session:
        course = await session.scalar(select(Course).where(Course.slug == "basics"))
        assert course is not None
        await members.add_teacher(session, course, email=email)


async def make_teacher(app: FastAPI, factory: Factory) -> httpx.AsyncClient:
    """A teacher of the imported "basics" course, signed in."""
    await create_account(factory, "teach@example.org", role=Role.teacher)
    await make_teacher_of_basics(factory, "teach@example.org")
    return await _signed_in(app, "teach@example.org")


async def adder_id(client: httpx.AsyncClient) -> int:
    items = (await client.get("/api/assignments")).json()["items"]
    return next(item["id"] for item in items if item["slug"] == "adder")


@pytest.fixture
async def classroom(
    app: FastAPI, settings: Settings, course_dir: Path, session_factory: Factory
) -> AsyncIterator[Classroom]:
    """Everyone graded against the old tests, then the tests changed (re-imported)."""
    teacher = await make_teacher(app, session_factory)
    room = Classroom(app, teacher, await adder_id(teacher))
    for name, codes in CODE.items():
        if name in REGISTERED:
            await create_account(session_factory, f"{name}@example.org")
            client = await _signed_in(app, f"{name}@example.org")
        else:
            client = _client(app)
            await client.post("/api/session")
        room.user_ids[name] = (await client.get("/api/me")).json()["id"]
        room.students[name] = client
        for code in codes:
            accepted = await client.post(
                f"/api/assignments/{room.adder_id}/submissions", json={"code": code}
            )
            assert accepted.status_code == 202, accepted.text
            await wait_for_final(client, accepted.json()["id"], timeout=60)
            room.submissions.setdefault(name, []).append(accepted.json()["id"])
    assert await room.points() == POINTS_BEFORE
    (course_dir / "adder" / "tests.py").write_text(NEW_TESTS)
    await import_course_dir(settings, course_dir)
    yield room
    for client in [teacher, *room.students.values()]:
        await client.aclose()


async def start_preview(room: Classroom) -> dict[str, Any]:
    started = await room.teacher.post(f"/api/assignments/{room.adder_id}/regrade-preview")
    assert started.status_code == 202, started.text
    assert started.headers["location"] == f"/api/regrade-previews/{started.json()['id']}"
    return dict(started.json())


async def wait_ready(client: httpx.AsyncClient, preview_id: int, **params: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = (await client.get(f"/api/regrade-previews/{preview_id}", params=params)).json()
        if body["status"] != "running":
            return dict(body)
        await asyncio.sleep(0.1)
    raise AssertionError(f"preview {preview_id} not ready within 60 s: {body}")


def delta(
    room: Classroom,
    name: str,
    old: float,
    new: float,
    changes: list[tuple[str, str, str]],
    at: int = 0,
) -> dict[str, Any]:
    return {
        "student": room.label(name),
        "user_id": room.user_ids[name],
        "submission_id": room.submissions[name][at],
        "old_points": old,
        "new_points": new,
        "delta": new - old,
        "changed_tests": [{"test": t, "old": o, "new": n} for t, o, n in changes],
    }


# Each student's tests before → after, for a submission that takes its new result.
PASSES_NOW = [(NEGATIVE, "passed", "missing"), (ZEROS, "missing", "passed")]
FIXED = [(NEGATIVE, "failed", "missing"), (ZEROS, "missing", "passed")]
BROKEN = [(NEGATIVE, "passed", "missing"), (ZEROS, "missing", "failed")]


async def test_a_preview_shows_exact_deltas_and_leaves_every_score_alone(
    classroom: Classroom, session_factory: Factory
) -> None:
    room = classroom
    started = await start_preview(room)
    assert (started["status"], started["total"]) == ("running", 6)
    assert await room.points() == POINTS_BEFORE
    ready = await wait_ready(room.teacher, started["id"])
    assert await room.points() == POINTS_BEFORE
    assert (ready["status"], ready["total"], ready["done"], ready["queued"], ready["running"]) == (
        "ready",
        6,
        6,
        0,
        0,
    )
    assert ready["deltas_policy"] == "new"
    assert ready["summary"] == {
        "students": 5,
        "gainers": 2,
        "losers": 2,
        "unchanged": 1,
        "mean_delta": 0.0,
        "errors": 0,
    }
    assert ready["deltas"] == [
        delta(room, "dave", 10, 5, BROKEN),
        # Erin's best submission loses; her other one gains, but only to 5.
        delta(room, "erin", 10, 5, BROKEN),
        delta(room, "alice", 10, 10, PASSES_NOW),
        delta(room, "bob", 5, 10, FIXED),
        delta(room, "carol", 0, 5, FIXED),
    ]

    higher = (
        await room.teacher.get(
            f"/api/regrade-previews/{started['id']}", params={"policy": "higher"}
        )
    ).json()
    assert higher["summary"] == {
        "students": 5,
        "gainers": 2,
        "losers": 0,
        "unchanged": 3,
        "mean_delta": 2.0,
        "errors": 0,
    }
    assert higher["deltas"] == [
        delta(room, "dave", 10, 10, []),
        delta(room, "alice", 10, 10, PASSES_NOW),
        delta(room, "erin", 10, 10, []),
        delta(room, "bob", 5, 10, FIXED),
        delta(room, "carol", 0, 5, FIXED),
    ]

    async with session_factory() as session:
        events = list(
            await session.scalars(
                select(Event).where(Event.type == "regrade_preview").order_by(Event.id)
            )
        )
        unchanged = list(await session.scalars(select(Submission).order_by(Submission.id)))
    assert {e.user_id for e in events} == {(await room.teacher.get("/api/me")).json()["id"]}
    progress = [e.payload["preview"] for e in events]
    assert progress[0]["done"] == 0
    assert (progress[-1]["status"], progress[-1]["done"]) == ("ready", 6)
    assert [p["done"] for p in progress] == sorted(p["done"] for p in progress)
    assert all(s.generation == 0 and s.regrading is False for s in unchanged)


async def test_applying_with_policy_new_gives_each_submission_its_new_result(
    classroom: Classroom, session_factory: Factory
) -> None:
    room = classroom
    preview_id = (await start_preview(room))["id"]
    await wait_ready(room.teacher, preview_id)
    applied = await room.teacher.post(
        f"/api/regrade-previews/{preview_id}/apply", json={"policy": "new"}
    )
    assert applied.status_code == 200, applied.text
    assert (applied.json()["status"], applied.json()["policy"]) == ("applied", "new")
    assert await room.points() == {"alice": 10, "bob": 10, "carol": 5, "dave": 5, "erin": 5}
    # The applied preview still shows what it changed.
    assert applied.json()["summary"]["losers"] == 2
    async with session_factory() as session:
        rows = list(await session.scalars(select(Submission).order_by(Submission.id)))
        notified = set(
            await session.scalars(
                select(Event.user_id).where(
                    Event.type == "submission", Event.id > await _first_event_after_setup(session)
                )
            )
        )
    assert all(row.generation == 1 for row in rows)
    assert {test["id"] for row in rows for test in row.feedback["tests"]} == {TWO, ZEROS}
    # Every student's results changed (at least their feedback), so each heard of it.
    assert notified == set(room.user_ids.values())

    again = await room.teacher.post(
        f"/api/regrade-previews/{preview_id}/apply", json={"policy": "higher"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "This preview was applied already."


async def _first_event_after_setup(session: AsyncSession) -> int:
    """The id of the first event of the preview: everything after it came from it."""
    first = await session.scalar(
        select(Event.id).where(Event.type == "regrade_preview").order_by(Event.id).limit(1)
    )
    assert first is not None
    return first


async def test_applying_with_policy_higher_keeps_the_better_result_whole(
    classroom: Classroom, session_factory: Factory
) -> None:
    room = classroom
    preview_id = (await start_preview(room))["id"]
    await wait_ready(room.teacher, preview_id)
    bad = await room.teacher.post(
        f"/api/regrade-previews/{preview_id}/apply", json={"policy": "best"}
    )
    assert bad.status_code == 422
    applied = await room.teacher.post(
        f"/api/regrade-previews/{preview_id}/apply", json={"policy": "higher"}
    )
    assert applied.status_code == 200, applied.text
    assert await room.points() == {"alice": 10, "bob": 10, "carol": 5, "dave": 10, "erin": 10}
    async with session_factory() as session:
        dave = await session.get_one(Submission, room.submissions["dave"][0])
        erin_wrong = await session.get_one(Submission, room.submissions["erin"][1])
    # Dave keeps his old result: score, status and the feedback that explains it.
    assert (dave.score, dave.status.value, dave.generation) == (10.0, "passed", 0)
    assert {t["id"] for t in dave.feedback["tests"]} == {TWO, NEGATIVE}
    assert (erin_wrong.score, erin_wrong.generation) == (5.0, 1)
    assert {t["id"] for t in erin_wrong.feedback["tests"]} == {TWO, ZEROS}


async def test_a_discarded_preview_changes_nothing_and_frees_the_assignment(
    classroom: Classroom, session_factory: Factory
) -> None:
    room = classroom
    preview_id = (await start_preview(room))["id"]
    busy = await room.teacher.post(f"/api/assignments/{room.adder_id}/regrade")
    assert busy.status_code == 409
    assert busy.json()["error"]["details"]["regrade_id"] == preview_id
    second = await room.teacher.post(f"/api/assignments/{room.adder_id}/regrade-preview")
    assert second.status_code == 409
    discarded = await room.teacher.delete(f"/api/regrade-previews/{preview_id}")
    assert discarded.status_code == 200, discarded.text
    assert discarded.json()["status"] == "discarded"
    assert (await room.teacher.delete(f"/api/regrade-previews/{preview_id}")).status_code == 409
    late = await room.teacher.post(
        f"/api/regrade-previews/{preview_id}/apply", json={"policy": "new"}
    )
    assert late.status_code == 409
    assert await room.points() == POINTS_BEFORE
    async with session_factory() as session:
        rows = list(await session.scalars(select(Submission)))
    assert all(row.generation == 0 for row in rows)
    # With the preview gone, a direct regrade may run.
    assert (await room.teacher.post(f"/api/assignments/{room.adder_id}/regrade")).status_code == 202


async def test_of_two_concurrent_preview_starts_exactly_one_gets_in(
    app: FastAPI, session_factory: Factory
) -> None:
    teacher = await make_teacher(app, session_factory)
    adder = await adder_id(teacher)
    responses = await asyncio.gather(
        *(teacher.post(f"/api/assignments/{adder}/regrade-preview") for _ in range(2))
    )
    assert sorted(r.status_code for r in responses) == [202, 409], [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 202)
    loser = next(r.json() for r in responses if r.status_code == 409)
    # Nothing was graded yet, so the preview is ready at once, and still in the way.
    assert (winner["status"], winner["total"]) == ("ready", 0)
    assert loser["error"]["code"] == "conflict"
    later = await teacher.post(f"/api/assignments/{adder}/regrade-preview")
    assert later.status_code == 409
    assert later.json()["error"]["details"] == {
        "regrade_id": winner["id"],
        "kind": "preview",
        "status": "ready",
    }
    await teacher.aclose()
