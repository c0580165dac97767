"""Request dependencies: the unit of work commits before the response is sent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from gradeflow.grading.models import Submission
from tests.conftest import LiveServer, new_student, wait_for_final
from tests.factories import ADDER_SOLUTION


@contextmanager
def failing_commits() -> Iterator[None]:
    """Every commit fails while the block runs, as when the database goes away mid-request."""

    def refuse(session: Session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint; only the outermost commit goes to the database
        raise OperationalError("COMMIT", {}, ConnectionResetError("the test cut the line"))

    event.listen(Session, "before_commit", refuse)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", refuse)


async def test_a_commit_that_fails_is_the_response_and_nothing_follows_it(
    live_server: LiveServer, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    # Over real HTTP: an in-process transport would not show a response sent early.
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        await new_student(client)
        assignment = (await client.get("/api/assignments/next")).json()
        url = f"/api/assignments/{assignment['id']}/submissions"
        with failing_commits():
            response = await client.post(url, json={"code": ADDER_SOLUTION})
        # Had the route answered before committing, the client would hold a 202 for
        # a submission that does not exist.
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "unavailable"
        async with session_factory() as session:
            assert await session.scalar(select(func.count()).select_from(Submission)) == 0
        assert (await client.get("/api/submissions")).json()["items"] == []

        # It published nothing and left no pending row behind: the next submit works.
        response = await client.post(url, json={"code": ADDER_SOLUTION})
        assert response.status_code == 202, response.text
        assert (await wait_for_final(client, response.json()["id"]))["status"] == "passed"


async def test_follow_ups_of_a_request_have_run_when_its_response_arrives(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await new_student(client)
    assignment = (await client.get("/api/assignments/next")).json()
    response = await client.post(
        f"/api/assignments/{assignment['id']}/submissions", json={"code": ADDER_SOLUTION}
    )
    assert response.status_code == 202
    runtime = app.state.runtime
    # Committed, then published, then answered; the mark that it was published
    # follows, not awaited by the answer.
    await runtime.intake.settled()
    async with runtime.session_factory() as session:
        submission = await session.get(Submission, response.json()["id"])
    assert submission is not None
    assert submission.published_at is not None
    # The cached list was purged after the commit, so it shows the new submission.
    items = (await client.get("/api/submissions")).json()["items"]
    assert [item["id"] for item in items] == [submission.id]
