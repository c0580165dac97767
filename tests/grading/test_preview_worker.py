"""Grader slots on preview results: a crashed worker's run is taken over, a restart
loses nothing and a duplicated job is graded once, with real sandbox runs."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.app import create_app
from gradeflow.courses.models import Assignment
from gradeflow.courses.service import list_assignments
from gradeflow.db import create_engine, create_session_factory, transaction, utcnow
from gradeflow.grading import preview_runs, previews
from gradeflow.grading.messages import GRADING_QUEUE, PreviewJob
from gradeflow.grading.models import PreviewResult, Regrade, RegradeStatus
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.sandbox import ProcessSandbox
from gradeflow.runtime import grader_config
from gradeflow.settings import Settings
from tests.conftest import import_course_dir
from tests.factories import ADDER_SOLUTION, graded_submission, grader_on, memory_outbox

Factory = async_sessionmaker[AsyncSession]


async def _preview_with_one_result(factory: Factory, outbox: Outbox) -> tuple[Regrade, int]:
    """A preview of one submission (the right solution, once recorded as half right)."""
    async with factory() as session:
        adder: Assignment = (await list_assignments(session))[0]
    await graded_submission(factory, adder, 1, code=ADDER_SOLUTION)
    async with transaction(factory) as session:
        preview = await previews.start_preview(
            session, outbox=outbox, assignment=adder, teacher=None
        )
    async with factory() as session:
        result_id = await session.scalar(
            select(PreviewResult.id).where(PreviewResult.preview_id == preview.id)
        )
    assert result_id is not None
    return preview, result_id


async def _claim_as_dead_worker(factory: Factory, result_id: int, *, at: dt.datetime) -> None:
    async with transaction(factory) as session:
        claimed = await preview_runs.claim_preview_result(
            session,
            outbox=memory_outbox(factory),
            result_id=result_id,
            owner="dead:1",
            max_attempts=3,
            lease_margin_s=30,
            now=at,
        )
    assert claimed is not None


async def _wait_ready(factory: Factory, preview: Regrade, timeout: float = 60) -> PreviewResult:
    for _ in range(int(timeout / 0.05)):
        async with factory() as session:
            current = await previews.get_preview(session, preview_id=preview.id)
            result = await session.scalar(
                select(PreviewResult).where(PreviewResult.preview_id == preview.id)
            )
        if current.status is RegradeStatus.ready:
            assert result is not None
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"preview {preview.id} not ready within {timeout} s")


async def test_a_result_claimed_by_a_crashed_worker_is_taken_over_by_the_sweeper(
    settings: Settings, course_dir: Path, session_factory: Factory
) -> None:
    await import_course_dir(settings, course_dir)
    preview, result_id = await _preview_with_one_result(
        session_factory, memory_outbox(session_factory)
    )
    # The dead worker's lease ran out long ago, and its job message is gone with it:
    # the new grader's queue is empty, so only its sweeper can find the work.
    await _claim_as_dead_worker(session_factory, result_id, at=utcnow() - dt.timedelta(hours=1))
    outbox = memory_outbox(session_factory)
    grader = grader_on(session_factory, outbox, ProcessSandbox(), grader_config(settings))
    await grader.start(recover=False)
    try:
        result = await _wait_ready(session_factory, preview)
    finally:
        await grader.stop()
    assert (result.status.value, result.score, result.attempts) == ("passed", 10.0, 2)
    assert result.lease_owner is None


async def test_results_left_running_by_a_dead_process_are_graded_after_a_restart(
    settings: Settings, course_dir: Path
) -> None:
    await import_course_dir(settings, course_dir)
    engine = create_engine(settings.resolved_database_url)
    factory = create_session_factory(engine)
    preview, result_id = await _preview_with_one_result(factory, memory_outbox(factory))
    await _claim_as_dead_worker(factory, result_id, at=utcnow())  # its lease still runs
    await engine.dispose()

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        result = await _wait_ready(app.state.runtime.session_factory, preview)
    assert (result.status.value, result.attempts) == ("passed", 2)


async def test_a_preview_job_delivered_many_times_is_graded_once(
    settings: Settings, course_dir: Path
) -> None:
    await import_course_dir(settings, course_dir)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        preview, result_id = await _preview_with_one_result(runtime.session_factory, runtime.outbox)
        for _ in range(4):
            await runtime.queue.publish(GRADING_QUEUE, PreviewJob(result_id).encode())
        await runtime.queue.publish(GRADING_QUEUE, b'{"kind": "preview", "preview_result_id": 0}')
        result = await _wait_ready(runtime.session_factory, preview)
        await asyncio.sleep(0.5)  # let every duplicate reach a slot
        async with runtime.session_factory() as session:
            again = await session.get_one(PreviewResult, result_id)
    assert (result.attempts, again.attempts, again.status.value) == (1, 1, "passed")
