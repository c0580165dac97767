"""A queued submission's place in the queue, as the event streams of a web process
hear it: interactive work only, in the order graders take it, updated as the queue
moves, however long the queue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.courses.models import Assignment
from gradeflow.courses.service import list_assignments
from gradeflow.db import transaction
from gradeflow.grading import runs, service
from gradeflow.grading.messages import GRADING_QUEUE, GradeJob, decode_job
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.queue_watch import (
    QueuePace,
    QueueWatch,
    estimate_wait,
    queue_places,
    queue_tally,
)
from gradeflow.grading.verdicts import SubmissionStatus
from gradeflow.infra.queue import Delivery
from gradeflow.settings import Settings
from tests.conftest import import_course_dir
from tests.factories import (
    ADDER_SOLUTION,
    add_graded_submission,
    memory_outbox,
    queued_submission,
)

Factory = async_sessionmaker[AsyncSession]


async def next_place(feed: AsyncIterator[str]) -> dict[str, object]:
    text = await asyncio.wait_for(anext(feed), 20)
    event, data = text.strip().split("\n")
    assert event == "event: queue"
    place: dict[str, object] = json.loads(data.removeprefix("data: "))
    return place


async def regrade_queued(
    settings: Settings, course_dir: Path, factory: Factory, outbox: Outbox
) -> tuple[Assignment, list[int]]:
    """The demo's adder, and the ids of its regrade: one graded submission, queued again."""
    await import_course_dir(settings, course_dir)
    async with transaction(factory) as session:
        [adder, _] = await list_assignments(session)
        graded = await create_anonymous_user(session)
        await add_graded_submission(
            session, user_id=graded.id, assignment=adder, status=SubmissionStatus.passed, score=10
        )
        regraded = await service.regrade_assignment(session, outbox=outbox, assignment=adder)
    return adder, regraded


async def claim(factory: Factory, outbox: Outbox, *submission_ids: int) -> None:
    """A grader claims the submissions, in one transaction (as it does ahead of a free slot)."""
    async with transaction(factory) as session:
        for submission_id in submission_ids:
            claimed = await runs.claim_submission(
                session,
                outbox=outbox,
                submission_id=submission_id,
                owner="grader",
                max_attempts=3,
                lease_margin_s=30,
            )
            assert claimed is not None


async def test_a_queued_submission_hears_its_position_and_an_estimate_once_the_queue_moves(
    settings: Settings, course_dir: Path, session_factory: Factory
) -> None:
    outbox = memory_outbox(session_factory)
    # Bulk work queued first (a regrade) is not ahead of anybody's submission.
    adder, regraded = await regrade_queued(settings, course_dir, session_factory, outbox)
    submitted = []
    for _ in range(3):
        submission = await queued_submission(session_factory, outbox, adder)
        submitted.append((submission.user_id, submission.id))
    assert regraded
    assert min(regraded) < submitted[0][1]

    watch = QueueWatch(session_factory, interval_s=0.05)
    try:
        async with watch.watch(submitted[2][0]) as last, watch.watch(submitted[0][0]) as first:
            assert await next_place(first) == {
                "type": "queue",
                "submission_id": submitted[0][1],
                "position": 1,
                "eta_s": None,  # nothing has left the queue yet: no pace to go by
            }
            place = await next_place(last)
            assert (place["submission_id"], place["position"]) == (submitted[2][1], 3)

            await claim(session_factory, outbox, submitted[0][1])
            place = await next_place(last)
            assert (place["submission_id"], place["position"]) == (submitted[2][1], 2)
            # One run left the queue in the first five seconds at least (the pace's
            # shortest span): 0.2 a second at most. Second in the queue behind the
            # claimed run: three runs' time, 15 s at the least.
            assert isinstance(place["eta_s"], int)
            assert place["eta_s"] >= 15
    finally:
        await watch.close()


def test_the_pace_counts_what_left_the_queue_over_the_window() -> None:
    pace = QueuePace(window_s=60)
    pace.observe(0.0, 5)  # the first look only starts the clock
    assert pace.per_second(0.0) is None
    pace.observe(10.0, 2)
    assert pace.per_second(10.0) == 0.2
    pace.observe(100.0, 0)  # the window forgot them: no pace, no guess
    assert pace.per_second(100.0) is None
    assert estimate_wait(3, 0.2) == 15
    assert estimate_wait(30, 0.2) == 150
    assert estimate_wait(3, None) is None
    assert estimate_wait(1, 100.0) == 1
    # Runs graders hold, claimed but not yet recorded, start before anything queued.
    assert estimate_wait(3, 0.2, claimed=2) == 25


async def test_the_wait_counts_the_interactive_runs_graders_hold_not_regrades(
    settings: Settings, course_dir: Path, session_factory: Factory
) -> None:
    outbox = memory_outbox(session_factory)
    adder, [regraded] = await regrade_queued(settings, course_dir, session_factory, outbox)
    submitted = [(await queued_submission(session_factory, outbox, adder)).id for _ in range(4)]

    # A grader holds two interactive runs and a regrade (claims ahead of its slots).
    for submission_id in (regraded, submitted[0], submitted[1]):
        await claim(session_factory, outbox, submission_id)
    async with session_factory() as session:
        tally = await queue_tally(session, up_to=None)
    assert (tally.total, tally.claimed) == (2, 2)


def test_one_start_seen_at_once_is_not_taken_for_a_fast_queue() -> None:
    pace = QueuePace(window_s=60)
    pace.observe(0.0, 0)
    pace.observe(0.5, 1)
    assert pace.per_second(0.5) == 1 / 5


LONG_QUEUE = 1100


async def test_every_student_of_a_queue_longer_than_a_thousand_hears_a_position(
    settings: Settings, course_dir: Path, session_factory: Factory
) -> None:
    await import_course_dir(settings, course_dir)
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        [adder, _] = await list_assignments(session)
        students = [User(role=Role.student) for _ in range(LONG_QUEUE)]
        session.add_all(students)
        await session.flush()
        submitted = await service.submit_group(
            session,
            outbox=outbox,
            requests=[
                service.SubmitRequest(s.id, adder.id, adder.revision, f"# {i}\n{ADDER_SOLUTION}")
                for i, s in enumerate(students)
            ],
        )
    ids = [s.id for s in submitted if isinstance(s, Submission)]
    assert len(ids) == LONG_QUEUE
    first, middle, last = students[0].id, students[LONG_QUEUE // 2].id, students[-1].id

    watch = QueueWatch(session_factory, interval_s=0.05)
    try:
        async with (
            watch.watch(first) as first_feed,
            watch.watch(middle) as middle_feed,
            watch.watch(last) as last_feed,
        ):
            assert (await next_place(first_feed))["position"] == 1
            assert (await next_place(middle_feed))["position"] == LONG_QUEUE // 2 + 1
            place = await next_place(last_feed)
            assert place == {
                "type": "queue",
                "submission_id": ids[-1],
                "position": LONG_QUEUE,
                "eta_s": None,
            }
            # Three start: the last in line moves up by three and now hears a wait.
            await claim(session_factory, outbox, *ids[:3])
            place = await next_place(last_feed)
            assert place["position"] == LONG_QUEUE - 3
            assert isinstance(place["eta_s"], int)
            assert place["eta_s"] > 0
            assert (await next_place(middle_feed))["position"] == LONG_QUEUE // 2 - 2
    finally:
        await watch.close()


async def test_positions_follow_the_order_graders_claim_in_after_releases(
    settings: Settings, course_dir: Path, session_factory: Factory
) -> None:
    await import_course_dir(settings, course_dir)
    await positions_follow_claim_order(session_factory, memory_outbox(session_factory))


async def positions_follow_claim_order(factory: Factory, outbox: Outbox) -> None:
    """Four students queue A, B, C, D. A grader takes A and gives it back after an
    internal error (its job published again); another takes B and hands it back at
    shutdown (its message rejected back to the queue). The positions say B, C, D, A,
    and the queue's graders take them in that order. Also run against RabbitMQ
    (tests/services)."""
    async with factory() as session:
        [adder, _] = await list_assignments(session)
    queued = [await queued_submission(factory, outbox, adder) for _ in range(4)]
    a, b, c, d = (s.id for s in queued)
    deliveries = aiter(outbox.queue.consume(GRADING_QUEUE))
    try:
        taken = await _take(factory, outbox, deliveries)
        assert taken == a
        await _release(factory, outbox, a, republish=True)
        await taken.delivery.ack()  # type: ignore[attr-defined]
        taken = await _take(factory, outbox, deliveries)
        assert taken == b
        await _release(factory, outbox, b, republish=False)
        await taken.delivery.reject(requeue=True)  # type: ignore[attr-defined]

        async with factory() as session:
            places = await queue_places(session, user_ids=[s.user_id for s in queued])
        by_position = [submission_id for submission_id, _, _ in sorted(places, key=lambda p: p[2])]
        assert by_position == [b, c, d, a]
        assert [p for _, _, p in sorted(places, key=lambda p: p[2])] == [1, 2, 3, 4]

        claimed = []
        while len(claimed) < 4:
            taken = await _take(factory, outbox, deliveries)
            await taken.delivery.ack()  # type: ignore[attr-defined]
            if taken.claimed:
                claimed.append(int(taken))
        assert claimed == by_position
    finally:
        await deliveries.aclose()  # type: ignore[attr-defined]


class _Taken(int):
    """A submission id taken from the queue, with its delivery and whether it was claimed."""

    delivery: Delivery
    claimed: bool


async def _take(factory: Factory, outbox: Outbox, deliveries: AsyncIterator[Delivery]) -> _Taken:
    delivery = await asyncio.wait_for(anext(deliveries), 20)
    job = decode_job(delivery.body)
    assert isinstance(job, GradeJob)
    async with transaction(factory) as session:
        claimed = await runs.claim_submission(
            session,
            outbox=outbox,
            submission_id=job.submission_id,
            owner="grader",
            max_attempts=3,
            lease_margin_s=30,
        )
    taken = _Taken(job.submission_id)
    taken.delivery, taken.claimed = delivery, claimed is not None
    return taken


async def _release(
    factory: Factory, outbox: Outbox, submission_id: int, *, republish: bool
) -> None:
    async with transaction(factory) as session:
        released = await service.release_submission(
            session, outbox=outbox, submission_id=submission_id, owner="grader", republish=republish
        )
    assert released
