"""A grader's claims and results written in groups: each caller answered as if alone."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.courses.models import Assignment
from gradeflow.db import transaction, utcnow
from gradeflow.events.service import user_channel
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.run_writer import RunWriter
from gradeflow.grading.runs import RunRecord
from gradeflow.grading.verdicts import SubmissionStatus
from gradeflow.infra.pubsub import MemoryPubSub
from gradeflow.infra.queue import MemoryQueue
from tests.factories import memory_outbox, run_result
from tests.grading.test_runs import claim_group, queued

Factory = async_sessionmaker[AsyncSession]


def writer(factory: Factory, owner: str, groups: list[int]) -> RunWriter:
    return RunWriter(
        session_factory=factory,
        outbox=memory_outbox(factory),
        owner=owner,
        max_attempts=3,
        lease_margin_s=30,
        on_group=groups.append,
    )


async def test_claims_that_arrive_together_share_a_group_and_a_duplicate_is_refused(
    adder: Assignment, session_factory: Factory
) -> None:
    a, b, c = await queued(session_factory, adder, 3)
    groups: list[int] = []
    claims = writer(session_factory, "w1", groups)
    # A duplicate delivery of ``a`` arrives with the others.
    answers = await asyncio.gather(*(claims.claim(i) for i in (a, b, a, c)))
    assert groups == [3, 1]
    claimed = [s.id for s in answers if s is not None]
    assert sorted(claimed) == sorted([a, b, c])
    assert [s.attempts for s in answers if s is not None] == [1, 1, 1]


async def test_results_that_arrive_together_are_stored_except_a_lost_lease(
    adder: Assignment, session_factory: Factory
) -> None:
    kept, lost, other = await queued(session_factory, adder, 3)
    groups: list[int] = []
    grader = writer(session_factory, "w1", groups)
    assert {
        s.id for s in await asyncio.gather(*(grader.claim(i) for i in (kept, lost, other)))
    } == {
        kept,
        lost,
        other,
    }
    await claim_group(session_factory, [lost], "w2", now=utcnow() + dt.timedelta(minutes=5))

    stored = await asyncio.gather(
        *(grader.record(RunRecord(i, 0, run_result(2))) for i in (kept, lost, other))
    )

    assert groups == [3, 3]
    assert [s.id if s else None for s in stored] == [kept, None, other]
    async with session_factory() as session:
        statuses = dict((await session.execute(select(Submission.id, Submission.status))).all())
    assert statuses == {
        kept: SubmissionStatus.passed,
        lost: SubmissionStatus.running,
        other: SubmissionStatus.passed,
    }


async def test_a_claim_cancelled_in_flight_returns_after_its_group_committed(
    adder: Assignment, session_factory: Factory
) -> None:
    [one] = await queued(session_factory, adder, 1)
    writing = asyncio.Event()
    claims = writer(session_factory, "w1", [])
    claims.on_group = lambda _size: writing.set()
    caller = asyncio.create_task(claims.claim(one))
    await writing.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    # So the shutdown's release that follows finds the lease, and hands it back.
    async with session_factory() as session:
        row = await session.get(Submission, one)
    assert row is not None
    assert (row.status, row.lease_owner) == (SubmissionStatus.running, "w1")


async def test_claims_arriving_apart_share_a_group_while_the_grader_can_wait(
    adder: Assignment, session_factory: Factory
) -> None:
    a, b, c = await queued(session_factory, adder, 3)
    groups: list[int] = []
    can_wait = True
    claims = writer(session_factory, "w1", groups)
    claims.hold = lambda: can_wait
    # Far longer than the test: only the grader's answer or a full group ends the wait.
    claims.linger_s = 600.0
    first = asyncio.create_task(claims.claim(a))
    second = asyncio.create_task(claims.claim(b))
    for _ in range(5):  # the writer runs, and lingers
        await asyncio.sleep(0)
    assert groups == []
    assert not first.done()
    can_wait = False
    claims.nudge()
    assert {s.id for s in await asyncio.gather(first, second) if s is not None} == {a, b}
    assert groups == [2]
    # Nothing holds it now: alone, at once.
    assert (await claims.claim(c)) is not None
    assert groups == [2, 1]


async def test_a_full_group_is_written_without_waiting_for_the_grader(
    adder: Assignment, session_factory: Factory
) -> None:
    ids = await queued(session_factory, adder, 3)
    groups: list[int] = []
    claims = writer(session_factory, "w1", groups)
    claims.hold, claims.linger_s, claims.max_group = (lambda: True), 600.0, 3
    answers = []
    for submission_id in ids:  # one after another, each its own task
        answers.append(asyncio.create_task(claims.claim(submission_id)))
        await asyncio.sleep(0)
    assert all(s is not None for s in await asyncio.gather(*answers))
    assert groups == [3]


class SlowPubSub(MemoryPubSub):
    """In-process pub/sub whose publishes wait until ``sent`` is set (a slow Redis)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = asyncio.Event()

    async def publish(self, channel: str, message: str) -> None:
        await self.sent.wait()
        await super().publish(channel, message)


async def test_a_claim_is_answered_at_commit_and_a_result_only_once_announced(
    adder: Assignment, session_factory: Factory
) -> None:
    [one] = await queued(session_factory, adder, 1)
    pubsub = SlowPubSub()
    outbox = Outbox(queue=MemoryQueue(), pubsub=pubsub, session_factory=session_factory)
    grader = RunWriter(
        session_factory=session_factory,
        outbox=outbox,
        owner="w1",
        max_attempts=3,
        lease_margin_s=30,
    )
    # The run starts while its claim's announcement is still on its way...
    claimed = await asyncio.wait_for(grader.claim(one), 10)
    assert claimed is not None
    assert claimed.status == SubmissionStatus.running
    # ...but a result is answered (and its job acked) only after its event is announced.
    recording = asyncio.create_task(grader.record(RunRecord(one, 0, run_result(2))))
    await asyncio.sleep(0.2)
    assert not recording.done()
    async with pubsub.subscribe(user_channel(claimed.user_id)) as subscription:
        pubsub.sent.set()
        stored = await asyncio.wait_for(recording, 10)
        assert stored is not None
        assert stored.status == SubmissionStatus.passed
        messages = subscription.messages()
        assert await asyncio.wait_for(anext(messages), 5) == "new"


async def test_an_interactive_claim_is_answered_before_the_regrades_in_its_group(
    adder: Assignment, session_factory: Factory
) -> None:
    first_regrade, interactive, second_regrade = await queued(session_factory, adder, 3)
    async with transaction(session_factory) as session:
        await session.execute(
            update(Submission)
            .where(Submission.id.in_([first_regrade, second_regrade]))
            .values(regrading=True)
        )
    groups: list[int] = []
    claims = writer(session_factory, "w1", groups)
    answered: list[int] = []

    async def claim(submission_id: int) -> None:
        assert await claims.claim(submission_id) is not None
        answered.append(submission_id)

    await asyncio.gather(*(claim(i) for i in (first_regrade, interactive, second_regrade)))
    assert groups == [3]
    # The order in which the runs reach the grader's gate, where a free slot goes to
    # the first one to come.
    assert answered == [interactive, first_regrade, second_regrade]
