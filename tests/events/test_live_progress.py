"""Transient events over a real HTTP connection: a run's progress as its tests finish,
never after its result, and never replayed on a resume."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.app import create_app
from gradeflow.events.service import drop_transient, publish_transient, stream_events
from gradeflow.infra.pubsub import MemoryPubSub
from gradeflow.settings import Settings
from tests.conftest import LiveServer, import_course_dir, sqlite_copy
from tests.e2e.test_progress import SOLUTION, slow_course

SLOW_IDS = ("1_counts_one_word", "2_counts_two_words")


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """Progress never touches the database: SQLite only (services mode runs it on
    PostgreSQL: tests/services/test_live_progress.py)."""
    return sqlite_copy(sqlite_template, tmp_path)


def read_frames(
    source: httpx.Response | Iterator[str],
    until_status: str,
    timeout: float = 30,
    until: Callable[[dict], bool] | None = None,
) -> list[dict]:
    """SSE frames (id, event, data) until a submission event with ``until_status``
    (or one ``until`` accepts); pass ``stream.iter_lines()`` to read on afterwards."""
    frames: list[dict] = []
    current: dict = {}
    deadline = time.monotonic() + timeout
    lines = source.iter_lines() if isinstance(source, httpx.Response) else source
    for line in lines:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {until_status!r} event in time: {frames}")
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("event: "):
            current["event"] = line[7:]
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "data" not in current:
            current = {}  # a block without data (the stream's starting id): no frame
        elif line == "":
            frames.append(current)
            submission = current["data"].get("submission")
            if submission and submission["status"] == until_status:
                return frames
            if until is not None and until(current):
                return frames
            current = {}
    raise AssertionError(f"stream ended: {frames}")


@dataclass
class SlowRun:
    client: httpx.Client
    assignment: dict
    stream: httpx.Response  # asked for transient events, opened before the submit
    submission_id: int


@contextmanager
def a_slow_run(settings: Settings, tmp_path: Path, *, sleep_s: float) -> Iterator[SlowRun]:
    """A student of a live server, whose submission of the slow course's solution
    (its third test sleeps ``sleep_s``) was accepted while ``stream`` was open."""
    asyncio.run(import_course_dir(settings, slow_course(tmp_path / "courses", sleep_s=sleep_s)))
    with (
        LiveServer(create_app(settings)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        client.post("/api/session")
        assignment = client.get("/api/assignments/next").json()
        with client.stream("GET", "/api/events", params={"progress": "true"}) as stream:
            accepted = client.post(
                f"/api/assignments/{assignment['id']}/submissions", json={"code": SOLUTION}
            )
            assert accepted.status_code == 202
            yield SlowRun(client, assignment, stream, accepted.json()["id"])


def test_progress_streams_as_tests_finish_and_is_never_replayed(
    settings: Settings, tmp_path: Path
) -> None:
    with a_slow_run(settings, tmp_path, sleep_s=1.5) as run:
        client, assignment = run.client, run.assignment
        frames = read_frames(run.stream, "passed")
        stored = [f for f in frames if "id" in f]
        progress = [f["data"] for f in frames if f.get("event") == "progress"]
        assert [f["data"]["submission"]["status"] for f in stored] == [
            "queued",
            "running",
            "passed",
        ]
        # Transient events carry no id: a resume never skips or repeats a stored one.
        assert all("id" not in f for f in frames if f.get("event") != "submission")
        assert {p["submission_id"] for p in progress} == {run.submission_id}
        # While the third test sleeps, the first two are ticked off and it is running.
        assert any(
            p["phase"] == "running"
            and p["passed"] == 2
            and [t["id"] for t in p["finished"]] == [f"CountTest.test_{i}" for i in SLOW_IDS[:2]]
            and p["running"] == "CountTest.test_3_takes_its_time"
            for p in progress
        ), progress
        counts = [len(p["finished"]) for p in progress]
        assert counts == sorted(counts)
        assert all(p["total"] == 4 for p in progress)

        with client.stream(
            "GET",
            "/api/events",
            params={"progress": "true"},
            headers={"Last-Event-ID": str(stored[0]["id"])},
        ) as stream:
            replayed = read_frames(stream, "passed")
        assert [f.get("event") for f in replayed] == ["submission", "submission"]

        # A client that did not ask for transient events gets none.
        second = client.post(
            f"/api/assignments/{assignment['id']}/submissions", json={"code": SOLUTION + "\n"}
        )
        assert second.status_code == 202
        with client.stream(
            "GET", "/api/events", headers={"Last-Event-ID": str(stored[-1]["id"])}
        ) as stream:
            plain = read_frames(stream, "passed")
        assert [f["data"]["submission"]["status"] for f in plain] == ["queued", "running", "passed"]
        assert all("id" in f for f in plain)


def first_frame(client: httpx.Client) -> dict:
    """The first event of a new stream that asked for transient events."""
    with client.stream("GET", "/api/events", params={"progress": "true"}) as stream:
        return read_frames(stream, "passed", until=lambda frame: True)[0]


def test_a_stream_opened_mid_run_starts_with_the_runs_latest_progress(
    settings: Settings, tmp_path: Path
) -> None:
    """A reload mid-run: the new stream's first event is the progress so far, not a
    wait for the grader's next heartbeat."""
    with a_slow_run(settings, tmp_path, sleep_s=4) as run:
        lines = run.stream.iter_lines()
        read_frames(lines, "passed", until=lambda f: f["data"].get("passed") == 2)
        reloaded = first_frame(run.client)
        read_frames(lines, "passed")
    assert reloaded["event"] == "progress"
    assert "id" not in reloaded
    assert reloaded["data"]["submission_id"] == run.submission_id
    assert reloaded["data"]["phase"] == "running"
    assert reloaded["data"]["passed"] == 2


async def test_a_stream_that_asks_for_transient_events_starts_with_the_kept_ones(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Without a grader resending anything: what is kept is sent first, before any
    row, and only to streams that asked; once dropped, nobody gets it."""
    pubsub = MemoryPubSub()
    await publish_transient(
        pubsub, user_id=5, type="progress", payload={"submission_id": 9}, keep_as="progress:9"
    )

    async def opening(*, transient: bool) -> list[str]:
        stream = stream_events(
            session_factory=session_factory,
            pubsub=pubsub,
            user_id=5,
            after_id=0,
            heartbeat_s=0.05,
            transient=transient,
        )
        async with aclosing(stream):
            return [await asyncio.wait_for(anext(stream), 10) for _ in range(2)]

    connected, kept = await opening(transient=True)
    assert connected.startswith("retry: 2000\n")
    assert kept == 'event: progress\ndata: {"type":"progress","submission_id":9}\n\n'
    assert (await opening(transient=False))[1] == ": heartbeat\n\n"
    await drop_transient(pubsub, user_id=5, kept_as="progress:9")
    assert (await opening(transient=True))[1] == ": heartbeat\n\n"
