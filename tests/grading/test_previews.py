"""Preview rules on SQLite and PostgreSQL, with no grader running: results are stored
by hand, so every state a preview passes through can be looked at."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.courses.models import Assignment
from gradeflow.courses.service import get_assignment
from gradeflow.db import transaction, utcnow
from gradeflow.errors import Conflict
from gradeflow.grading import preview_runs, previews, runs, service
from gradeflow.grading.models import PreviewResult, Regrade, RegradeStatus, Submission
from gradeflow.settings import Settings
from tests.conftest import import_course_dir
from tests.factories import graded_submission, memory_outbox, queued_jobs, run_result

Factory = async_sessionmaker[AsyncSession]


async def change_tests(settings: Settings, course_dir: Path) -> None:
    """Re-import adder with its tests changed: a new revision."""
    tests = course_dir / "adder" / "tests.py"
    tests.write_text(tests.read_text() + "\n# changed again\n")
    await import_course_dir(settings, course_dir)


async def start(factory: Factory, assignment: Assignment) -> Regrade:
    async with transaction(factory) as session:
        return await previews.start_preview(
            session, outbox=memory_outbox(factory), assignment=assignment, teacher=None
        )


async def regrade(factory: Factory, assignment: Assignment) -> list[int]:
    async with transaction(factory) as session:
        return await service.regrade_assignment(
            session, outbox=memory_outbox(factory), assignment=assignment
        )


async def result_ids(factory: Factory, preview: Regrade) -> list[int]:
    async with factory() as session:
        query = select(PreviewResult.id).where(PreviewResult.preview_id == preview.id)
        return list(await session.scalars(query.order_by(PreviewResult.id)))


async def claim(
    factory: Factory, result_id: int, owner: str = "w1", now: dt.datetime | None = None
) -> PreviewResult | None:
    async with transaction(factory) as session:
        return await preview_runs.claim_preview_result(
            session,
            outbox=memory_outbox(factory),
            result_id=result_id,
            owner=owner,
            max_attempts=2,
            lease_margin_s=30,
            now=now,
        )


async def record(factory: Factory, claimed: PreviewResult, passed: int, owner: str = "w1") -> bool:
    async with transaction(factory) as session:
        stored = await preview_runs.record_preview_result(
            session,
            outbox=memory_outbox(factory),
            result_id=claimed.id,
            owner=owner,
            attempt=claimed.attempts,
            result=run_result(passed),
        )
    return stored is not None


async def status_of(factory: Factory, preview: Regrade) -> RegradeStatus:
    async with factory() as session:
        return (await previews.get_preview(session, preview_id=preview.id)).status


async def test_a_preview_queues_a_job_per_graded_submission_and_changes_no_score(
    adder: Assignment, session_factory: Factory
) -> None:
    first, second = (
        await graded_submission(session_factory, adder, 2),
        await graded_submission(session_factory, adder, 1),
    )
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        preview = await previews.start_preview(
            session, outbox=outbox, assignment=adder, teacher=None
        )
    assert (preview.status, preview.total) == (RegradeStatus.running, 2)
    assert await queued_jobs(outbox) == 2
    async with session_factory() as session:
        rows = list(await session.scalars(select(Submission).order_by(Submission.id)))
        results = list(await session.scalars(select(PreviewResult).order_by(PreviewResult.id)))
    assert [(r.score, r.status.value, r.regrading) for r in rows] == [
        (first.score, "passed", False),
        (second.score, "failed", False),
    ]
    assert [(r.old_score, r.old_tests) for r in results] == [
        (10.0, {"AddTest.test_0": "passed", "AddTest.test_1": "passed"}),
        (5.0, {"AddTest.test_0": "passed", "AddTest.test_1": "failed"}),
    ]


async def test_a_preview_and_a_direct_regrade_exclude_each_other(
    adder: Assignment, session_factory: Factory
) -> None:
    await graded_submission(session_factory, adder, 2)
    # Started together: the database lets exactly one in.
    outcomes = await asyncio.gather(
        start(session_factory, adder), regrade(session_factory, adder), return_exceptions=True
    )
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1, outcomes
    if isinstance(outcomes[0], Regrade):
        with pytest.raises(Conflict, match="preview of this assignment is open"):
            await regrade(session_factory, adder)
    else:
        # Nothing grades here, so the direct regrade stays running.
        with pytest.raises(Conflict, match="regrade of this assignment is running") as info:
            await start(session_factory, adder)
        assert info.value.details["kind"] == "direct"


async def test_a_direct_regrade_ends_once_nothing_is_regrading(
    adder: Assignment, session_factory: Factory
) -> None:
    submission = await graded_submission(session_factory, adder, 2)
    assert await regrade(session_factory, adder) == [submission.id]
    with pytest.raises(Conflict):
        await start(session_factory, adder)
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        await runs.claim_submission(
            session,
            outbox=outbox,
            submission_id=submission.id,
            owner="w",
            max_attempts=3,
            lease_margin_s=30,
        )
    async with transaction(session_factory) as session:
        await runs.record_result(
            session,
            outbox=outbox,
            submission_id=submission.id,
            owner="w",
            generation=1,
            result=run_result(1),
        )
    preview = await start(session_factory, adder)
    async with session_factory() as session:
        kinds = [(r.kind.value, r.status.value) for r in await session.scalars(select(Regrade))]
    assert kinds == [("direct", "done"), ("preview", "running")]
    assert preview.total == 1


async def test_a_preview_is_ready_after_its_last_result_and_applied_only_then(
    adder: Assignment, session_factory: Factory
) -> None:
    first, second = (
        await graded_submission(session_factory, adder, 2),
        await graded_submission(session_factory, adder, 0),
    )
    preview = await start(session_factory, adder)
    one, two = await result_ids(session_factory, preview)
    claimed = await claim(session_factory, one)
    assert claimed is not None
    assert await claim(session_factory, one, "w2") is None  # leased by w1
    assert await record(session_factory, claimed, 1)
    assert await status_of(session_factory, preview) is RegradeStatus.running
    with pytest.raises(Conflict, match="still grading"):
        async with transaction(session_factory) as session:
            await previews.apply_preview(
                session,
                outbox=memory_outbox(session_factory),
                preview=preview,
                policy="new",
                by=None,
            )
    claimed = await claim(session_factory, two)
    assert claimed is not None
    assert await record(session_factory, claimed, 2)
    assert not await record(session_factory, claimed, 0)  # stored once
    assert await status_of(session_factory, preview) is RegradeStatus.ready
    async with transaction(session_factory) as session:
        await previews.apply_preview(
            session, outbox=memory_outbox(session_factory), preview=preview, policy="new", by=None
        )
    async with session_factory() as session:
        rows = {s.id: s for s in await session.scalars(select(Submission))}
    assert (rows[first.id].score, rows[first.id].generation) == (5.0, 1)
    assert (rows[second.id].score, rows[second.id].status.value) == (10.0, "passed")


async def test_a_result_out_of_attempts_is_an_error_and_never_applied(
    adder: Assignment, session_factory: Factory
) -> None:
    submission = await graded_submission(session_factory, adder, 2)
    preview = await start(session_factory, adder)
    [result_id] = await result_ids(session_factory, preview)
    now = utcnow()
    for attempt in range(2):
        now += dt.timedelta(minutes=5)
        assert await claim(session_factory, result_id, f"w{attempt}", now=now) is not None
    assert await claim(session_factory, result_id, "w9", now=now + dt.timedelta(minutes=5)) is None
    assert await status_of(session_factory, preview) is RegradeStatus.ready
    async with transaction(session_factory) as session:
        ready = await previews.get_preview(session, preview_id=preview.id)
        report = await previews.preview_report(session, ready)
        await previews.apply_preview(
            session, outbox=memory_outbox(session_factory), preview=preview, policy="new", by=None
        )
    assert report["summary"]["errors"] == 1
    assert [(d["old_points"], d["new_points"]) for d in report["deltas"]] == [(10.0, 10.0)]
    async with session_factory() as session:
        kept = await session.get_one(Submission, submission.id)
    assert (kept.score, kept.generation) == (10.0, 0)


async def test_a_preview_fails_when_the_tests_change_under_it(
    adder: Assignment, session_factory: Factory, settings: Settings, course_dir: Path
) -> None:
    await graded_submission(session_factory, adder, 2)
    await graded_submission(session_factory, adder, 2)
    preview = await start(session_factory, adder)
    first, second = await result_ids(session_factory, preview)
    claimed = await claim(session_factory, first)
    assert claimed is not None
    await change_tests(settings, course_dir)
    # The next claim sees a revision the preview was not started for.
    assert await claim(session_factory, second) is None
    async with session_factory() as session:
        failed = await previews.get_preview(session, preview_id=preview.id)
    assert failed.status is RegradeStatus.failed
    assert failed.message == "The assignment's tests changed while it ran."
    assert not await record(session_factory, claimed, 2)  # dropped, not stored
    # A failed preview is no longer in the way.
    async with session_factory() as session:
        current = await get_assignment(session, assignment_id=adder.id)
    assert (await start(session_factory, current)).status is RegradeStatus.running


async def test_a_ready_preview_is_not_applied_after_the_tests_changed(
    adder: Assignment, session_factory: Factory, settings: Settings, course_dir: Path
) -> None:
    await graded_submission(session_factory, adder, 2)
    preview = await start(session_factory, adder)
    [result_id] = await result_ids(session_factory, preview)
    claimed = await claim(session_factory, result_id)
    assert claimed is not None
    assert await record(session_factory, claimed, 1)
    await change_tests(settings, course_dir)
    with pytest.raises(Conflict, match="changed after this preview"):
        async with transaction(session_factory) as session:
            await previews.apply_preview(
                session,
                outbox=memory_outbox(session_factory),
                preview=preview,
                policy="new",
                by=None,
            )
    assert await status_of(session_factory, preview) is RegradeStatus.ready


async def test_a_discarded_previews_queued_results_are_never_graded(
    adder: Assignment, session_factory: Factory
) -> None:
    await graded_submission(session_factory, adder, 2)
    preview = await start(session_factory, adder)
    [result_id] = await result_ids(session_factory, preview)
    async with transaction(session_factory) as session:
        await previews.discard_preview(
            session, outbox=memory_outbox(session_factory), preview=preview, by=None
        )
    assert await claim(session_factory, result_id) is None
    async with session_factory() as session:
        assert await preview_runs.lost_results(session, unpublished_for=dt.timedelta(0)) == []
        assert await preview_runs.results_to_publish(session) == []
