"""Services mode: a queued submission's place (read by the web process from
PostgreSQL) and its run's progress (sent by a worker process over Redis) reach the
student's stream on a web process; a stream opened mid-run (a reload) starts with the
progress the worker kept in Redis."""

from __future__ import annotations

import asyncio
from contextlib import closing
from pathlib import Path

from gradeflow.settings import Settings
from tests.conftest import import_course_dir
from tests.e2e.test_progress import SOLUTION, slow_course
from tests.events.test_live_progress import first_frame, read_frames
from tests.services.conftest import WebProcess, new_student, worker_process


def test_a_queued_submission_hears_its_place_then_its_progress_from_a_worker_process(
    settings: Settings, tmp_path: Path
) -> None:
    asyncio.run(import_course_dir(settings, slow_course(tmp_path / "courses", sleep_s=3)))
    web = WebProcess(settings)
    worker = None
    try:
        with closing(new_student(web)) as me:
            assignment = me.get("/api/assignments/next").json()
            path = f"/api/assignments/{assignment['id']}/submissions"
            with me.stream("GET", "/api/events", params={"progress": "true"}) as stream:
                accepted = me.post(path, json={"code": SOLUTION})
                assert accepted.status_code == 202
                lines = stream.iter_lines()
                # No worker yet: it waits in the queue, first in line.
                frames = read_frames(lines, "passed", until=lambda f: f.get("event") == "queue")
                worker = worker_process(settings, concurrency=1)
                frames += read_frames(
                    lines, "passed", timeout=90, until=lambda f: f["data"].get("passed") == 2
                )
                reloaded = first_frame(me)
                frames += read_frames(lines, "passed", timeout=90)
    finally:
        if worker is not None:
            worker.kill()
        web.kill()

    mine = accepted.json()["id"]
    assert frames[-1]["data"]["submission"]["status"] == "passed"
    places = [f["data"] for f in frames if f.get("event") == "queue"]
    assert places[0] == {"type": "queue", "submission_id": mine, "position": 1, "eta_s": None}
    progress = [f["data"] for f in frames if f.get("event") == "progress"]
    assert {p["submission_id"] for p in progress} == {mine}
    assert any(
        p["passed"] == 2 and p["running"] == "CountTest.test_3_takes_its_time" for p in progress
    )
    assert reloaded["event"] == "progress"
    assert reloaded["data"]["submission_id"] == mine
    assert reloaded["data"]["passed"] == 2
