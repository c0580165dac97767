"""Fairness through RabbitMQ, end to end: a real worker process consuming the real
broker. Interactive work goes ahead of a regrade backlog queued in RabbitMQ; a student
who submits again and again cannot starve another; queue positions follow the order
RabbitMQ delivers in (tests/grading/test_queue_watch.py runs the same in embedded mode).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.service import create_anonymous_user
from gradeflow.courses.service import list_assignments
from gradeflow.db import transaction
from gradeflow.events.models import Event
from gradeflow.grading.messages import QUEUES
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.verdicts import FINAL_STATUSES, SubmissionStatus
from gradeflow.infra.pubsub import MemoryPubSub
from gradeflow.infra.rabbitmq import RabbitQueue
from gradeflow.settings import Settings
from tests.factories import ADDER_SOLUTION, queued_submission
from tests.grading.test_fairness import regrade_backlog
from tests.grading.test_queue_watch import positions_follow_claim_order
from tests.services.conftest import BROKER_URL, worker_process

Factory = async_sessionmaker[AsyncSession]
FINAL = {s.value for s in FINAL_STATUSES}
BACKLOG_PER_ASSIGNMENT = 80


@pytest.fixture
async def rabbit_outbox(settings: Settings, session_factory: Factory) -> AsyncIterator[Outbox]:
    """An outbox publishing to this test's RabbitMQ queues, as a web process does."""
    queue = RabbitQueue(BROKER_URL, prefix=settings.queue_prefix, prefetch=1, queues=QUEUES)
    await queue.start()
    try:
        await asyncio.wait_for(queue.connected.wait(), 10)
        yield Outbox(queue=queue, pubsub=MemoryPubSub(), session_factory=session_factory)
    finally:
        await queue.close()


async def test_positions_follow_the_order_rabbitmq_delivers_in_after_releases(
    course: None, session_factory: Factory, rabbit_outbox: Outbox
) -> None:
    await positions_follow_claim_order(session_factory, rabbit_outbox)


async def _status(factory: Factory, submission_id: int) -> SubmissionStatus:
    async with factory() as session:
        submission = await session.get(Submission, submission_id)
    assert submission is not None
    return submission.status


async def _wait_final(factory: Factory, submission_id: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while await _status(factory, submission_id) not in FINAL_STATUSES:
        assert time.monotonic() < deadline, f"submission {submission_id} not graded in time"
        await asyncio.sleep(0.05)


async def _finished(factory: Factory, user_id: int) -> int:
    async with factory() as session:
        events = await session.scalars(select(Event).where(Event.user_id == user_id))
        return sum(1 for e in events if e.payload["submission"]["status"] in FINAL)


async def test_a_worker_on_rabbitmq_serves_newcomers_before_a_backlog_and_a_busy_student(
    settings: Settings, course: None, session_factory: Factory, rabbit_outbox: Outbox
) -> None:
    """A: a regrade backlog queued in RabbitMQ. C: a student who submits again as soon
    as each result is in. D: submits once, while both go on. D waits for the runs the
    worker holds when D's job arrives (its prefetch: slots + claims ahead) at most — not
    for A's backlog — and for at most two of C's submissions: C has one pending at a
    time, queued before D's (its run ahead of D's) or after it (claimed in the same
    group as D's at worst)."""
    async with transaction(session_factory) as session:
        assignments = await list_assignments(session)
        backlogged = await regrade_backlog(
            session, rabbit_outbox, assignments, BACKLOG_PER_ASSIGNMENT
        )
        busy = await create_anonymous_user(session)
        newcomer = await create_anonymous_user(session)
    backlog = BACKLOG_PER_ASSIGNMENT * len(assignments)
    slots, claim_ahead = settings.resolved_grader_slots, settings.resolved_claim_ahead

    stop = asyncio.Event()

    async def submit_again_and_again() -> None:
        attempt = 0
        while not stop.is_set():
            attempt += 1  # new code each time: an identical one would reuse the result
            code = f"# attempt {attempt}\n{ADDER_SOLUTION}"
            mine = await queued_submission(
                session_factory, rabbit_outbox, assignments[0], user=busy, code=code
            )
            await _wait_final(session_factory, mine.id)

    worker = worker_process(settings, concurrency=slots)
    hammering = asyncio.create_task(submit_again_and_again())
    try:
        deadline = time.monotonic() + 120
        while await _finished(session_factory, busy.id) < 2:
            assert time.monotonic() < deadline, worker.output()[-3000:]
            assert not hammering.done()
            await asyncio.sleep(0.05)
        submission = await queued_submission(
            session_factory, rabbit_outbox, assignments[0], user=newcomer
        )
        await _wait_final(session_factory, submission.id)
    finally:
        stop.set()
        await asyncio.wait_for(hammering, 120)
        worker.kill()

    async with session_factory() as session:
        rows = list(await session.scalars(select(Submission)))
    mine = next(row for row in rows if row.id == submission.id)
    assert mine.status is SubmissionStatus.passed
    assert mine.published_at is not None
    assert mine.finished_at is not None
    # Results are recorded in groups, each group's rows with one ``finished_at`` (and
    # their events in no particular order): a result in D's own group did not delay D.
    # Counted: results recorded after D's job was confirmed by RabbitMQ, in groups
    # before D's. Each was held by the worker (claimed or delivered) when D's job
    # arrived, so at most ``slots + claim_ahead``: the prefetch.
    published_at, finished_at = mine.published_at, mine.finished_at

    def finished_meanwhile(user_id: int) -> int:
        return sum(
            1
            for row in rows
            if row.user_id == user_id
            and row.finished_at is not None
            and published_at < row.finished_at < finished_at
        )

    assert finished_meanwhile(backlogged.id) <= slots + claim_ahead
    # Graded while the backlog still waited in RabbitMQ. (How much of it was done before
    # D even submitted depends on the machine's speed: C's two results each waited for
    # the runs the worker held, and the worker went on with the backlog meanwhile.)
    backlog_done_before = sum(
        1
        for row in rows
        if row.user_id == backlogged.id
        and not row.regrading
        and row.finished_at is not None
        and row.finished_at < finished_at
    )
    assert backlog_done_before < backlog
    assert finished_meanwhile(busy.id) <= 2
