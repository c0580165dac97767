"""Transient events over a real HTTP connection: a run's progress as its tests finish,
never after its result, and never replayed on a resume."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gradeflow.app import create_app
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
        elif line == "" and "data" in current:
            frames.append(current)
            submission = current["data"].get("submission")
            if submission and submission["status"] == until_status:
                return frames
            if until is not None and until(current):
                return frames
            current = {}
    raise AssertionError(f"stream ended: {frames}")


def test_progress_streams_as_tests_finish_and_is_never_replayed(
    settings: Settings, tmp_path: Path
) -> None:
    asyncio.run(import_course_dir(settings, slow_course(tmp_path / "courses", sleep_s=1.5)))
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
            frames = read_frames(stream, "passed")
        stored = [f for f in frames if "id" in f]
        progress = [f["data"] for f in frames if f.get("event") == "progress"]
        assert [f["data"]["submission"]["status"] for f in stored] == [
            "queued",
            "running",
            "passed",
        ]
        # Transient events carry no id: a resume never skips or repeats a stored one.
        assert all("id" not in f for f in frames if f.get("event") != "submission")
        assert {p["submission_id"] for p in progress} == {accepted.json()["id"]}
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
