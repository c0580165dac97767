"""A queued submission's place in the queue, as the event streams of a web process
hear it: interactive work only, by id, updated as the queue moves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.service import create_anonymous_user
from gradeflow.courses.service import list_assignments
from gradeflow.db import transaction
from gradeflow.grading import runs, service
from gradeflow.grading.queue_watch import QueuePace, QueueWatch, estimate_wait
from gradeflow.grading.verdicts import SubmissionStatus
from gradeflow.settings import Settings
from tests.conftest import import_course_dir
from tests.factories import add_graded_submission, memory_outbox, queued_submission

Factory = async_sessionmaker[AsyncSession]


async def next_place(feed: AsyncIterator[str]) -> dict[str, object]:
    text = await asyncio.wait_for(anext(feed), 20)
    event, data = text.strip().split("\n")
    assert event == "event: queue"
    place: dict[str, object] = json.loads(data.removeprefix("data: "))
    return place


async def test_a_queued_submission_hears_its_position_and_an_estimate_once_the_queue_moves(
    settings: Settings, course_dir: Path, session_factory: Factory
) -> None:
    await import_course_dir(settings, course_dir)
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        [adder, _] = await list_assignments(session)
        # Bulk work queued first (a regrade) is not ahead of anybody's submission.
        graded = await create_anonymous_user(session)
        await add_graded_submission(
            session, user_id=graded.id, assignment=adder, status=SubmissionStatus.passed, score=10
        )
        regraded = await service.regrade_assignment(session, outbox=outbox, assignment=adder)
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

            async with transaction(session_factory) as session:
                claimed = await runs.claim_submission(
                    session,
                    outbox=outbox,
                    submission_id=submitted[0][1],
                    owner="grader",
                    max_attempts=3,
                    lease_margin_s=30,
                )
            assert claimed is not None
            place = await next_place(last)
            assert (place["submission_id"], place["position"]) == (submitted[2][1], 2)
            assert isinstance(place["eta_s"], int)
            assert place["eta_s"] > 0
    finally:
        await watch.close()


def test_the_pace_counts_what_left_the_head_over_the_window() -> None:
    pace = QueuePace(window_s=60)
    pace.observe(0.0, {1, 2, 3, 4})
    assert pace.per_second(0.0) is None
    pace.observe(10.0, {3, 4, 5})  # 1 and 2 started; 5 is new
    assert pace.per_second(10.0) == 0.2
    pace.observe(100.0, {3, 4, 5})  # the window forgot them: no pace, no guess
    assert pace.per_second(100.0) is None
    assert estimate_wait(3, 0.2) == 15
    assert estimate_wait(30, 0.2) == 150
    assert estimate_wait(3, None) is None
    assert estimate_wait(1, 100.0) == 1


def test_one_start_seen_at_once_is_not_taken_for_a_fast_queue() -> None:
    pace = QueuePace(window_s=60)
    pace.observe(0.0, {1, 2})
    pace.observe(0.5, {2})
    assert pace.per_second(0.5) == 1 / 5
