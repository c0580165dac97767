"""Live events over a real HTTP connection: SSE framing, live updates and resumption."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import time

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.identity import Caller
from gradeflow.accounts.models import Role
from gradeflow.api.submissions import events as events_route
from gradeflow.app import create_app
from gradeflow.db import transaction
from gradeflow.events.service import record_event
from gradeflow.settings import Settings
from tests.conftest import LiveServer
from tests.factories import ADDER_SOLUTION, create_account


def read_events(response: httpx.Response, until_status: str, timeout: float = 20) -> list[dict]:
    """Parse SSE frames until a submission event with ``until_status`` arrives."""
    events: list[dict] = []
    current: dict = {}
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {until_status!r} event in time: {events}")
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "data" in current:
            events.append(current)
            if current["data"]["submission"]["status"] == until_status:
                return events
            current = {}
    raise AssertionError(f"stream ended: {events}")


def test_a_result_arrives_live_and_a_reconnect_resumes_after_the_last_event(
    live_server: LiveServer,
) -> None:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        me = client.post("/api/session").json()
        assignment = client.get("/api/assignments/next").json()
        with client.stream("GET", "/api/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            accepted = client.post(
                f"/api/assignments/{assignment['id']}/submissions", json={"code": ADDER_SOLUTION}
            )
            assert accepted.status_code == 202
            events = read_events(stream, "passed")
        statuses = [e["data"]["submission"]["status"] for e in events]
        assert statuses == ["queued", "running", "passed"]
        assert events[-1]["data"]["points"] == 10.0
        ids = [e["id"] for e in events]
        assert ids == sorted(ids)

        # Reconnecting with Last-Event-ID of the first event replays exactly the rest.
        with client.stream("GET", "/api/events", headers={"Last-Event-ID": str(ids[0])}) as stream:
            replayed = read_events(stream, "passed")
        assert [e["id"] for e in replayed] == ids[1:]
        assert me["id"] == client.get("/api/me").json()["id"]


def test_a_stream_cut_before_its_first_event_resumes_from_where_it_started(
    live_server: LiveServer,
) -> None:
    """The opening names its starting point as the SSE id, as an EventSource keeps it:
    resuming from it replays what happened while the client was away."""
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        client.post("/api/session")
        assignment = client.get("/api/assignments/next").json()
        opening: list[str] = []
        with client.stream("GET", "/api/events") as stream:
            for line in stream.iter_lines():
                if line == "":
                    break
                opening.append(line)
        started_at = [line[4:] for line in opening if line.startswith("id: ")]
        assert started_at, opening
        assert opening[-1].startswith(": connected"), opening
        accepted = client.post(
            f"/api/assignments/{assignment['id']}/submissions", json={"code": ADDER_SOLUTION}
        )
        assert accepted.status_code == 202
        headers = {"Last-Event-ID": started_at[-1]}
        with client.stream("GET", "/api/events", headers=headers) as stream:
            events = read_events(stream, "passed")
        statuses = [e["data"]["submission"]["status"] for e in events]
        assert statuses == ["queued", "running", "passed"]
        assert {e["data"]["submission"]["id"] for e in events} == {accepted.json()["id"]}


async def test_a_stream_from_now_on_starts_when_it_is_answered_not_when_its_body_begins(
    app: FastAPI, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """A client that has the stream's headers and then submits must get every event of
    that submission. Its headers can reach it before the server begins the body: an
    event committed in between was skipped when "now" was taken by the body (a
    submission's "queued" went missing for a client of the API)."""
    user_id = await create_account(session_factory, "early@example.org")
    caller = Caller(id=user_id, role=Role.student, email=None, name=None, student_number=None)
    response = await events_route(
        runtime=app.state.runtime,
        user=caller,
        last_event_id=None,
        last_event_id_header=None,
        progress=False,
    )
    # The response is made (its headers would be on their way); its body has not begun.
    async with transaction(session_factory) as session:
        event = await record_event(
            session, user_id=user_id, type="submission", payload={"submission": {"id": 1}}
        )
    body = response.body_iterator
    try:
        connected = await asyncio.wait_for(anext(body), 10)
        assert connected == "retry: 2000\nid: 0\n: connected, after 0\n\n"  # the user had none
        first = await asyncio.wait_for(anext(body), 10)
        assert f"id: {event.id}\n" in str(first)
    finally:
        await body.aclose()


def test_events_need_a_session(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        response = client.get("/api/events")
        assert response.status_code == 401
        client.post("/api/session")
        bad = client.get("/api/events", headers={"Last-Event-ID": "x"})
        assert bad.status_code == 422


class Records(logging.Handler):
    """The log records of a logger, kept."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_stopping_the_server_ends_open_streams_without_an_error(settings: Settings) -> None:
    """An open page does not hold a stopping server: its stream ends (the browser
    reconnects, to another process), instead of being cancelled with an error logged
    once the graceful shutdown's time is up."""
    server = LiveServer(create_app(settings, grading=False))
    # After the server's config, which sets uvicorn's loggers up.
    logged = Records()
    logging.getLogger("uvicorn.error").addHandler(logged)
    try:
        with server, httpx.Client(base_url=server.url, timeout=30) as client:
            client.post("/api/session")
            with client.stream("GET", "/api/events") as stream:
                lines = stream.iter_lines()
                opening = list(itertools.takewhile(lambda line: line != "", lines))
                assert opening[-1].startswith(": connected"), opening
                stopping = threading.Thread(target=server.__exit__, args=(None, None, None))
                stopping.start()
                # Ends as a response ends (the client's read timeout bounds the wait).
                rest = list(lines)
            stopping.join(timeout=30)
            assert not server.thread.is_alive()
    finally:
        logging.getLogger("uvicorn.error").removeHandler(logged)
    assert all(line.startswith(":") or line == "" for line in rest), rest
    errors = [record.getMessage() for record in logged.records if record.levelno >= logging.ERROR]
    assert errors == []
