"""Fair grading during a surge, with the real grader and sandbox: one student's
backlog cannot hold others back, and interactive work goes ahead of bulk work.

What holds it: a student has at most one pending interactive submission (a partial
unique index), so the interactive queue is one submission per student, served in
order; regrades are published at a lower priority than submissions; and a grader
holds at most its slots plus its claims ahead, so a submission waits for no more
than those runs in flight, however long the bulk backlog.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.courses import members
from gradeflow.courses.models import Assignment, AssignmentDraft, CheckStatus
from gradeflow.courses.service import list_assignments
from gradeflow.db import transaction
from gradeflow.errors import Conflict
from gradeflow.events.models import Event
from gradeflow.grading import checks, previews, service
from gradeflow.grading.models import PreviewResult, Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.sandbox import ProgressCallback, RunResult, RunSpec, Sandbox
from gradeflow.grading.verdicts import FINAL_STATUSES, SubmissionStatus, start_sandbox
from gradeflow.runtime import grader_config
from gradeflow.settings import Settings
from tests.conftest import import_course_dir, sqlite_copy
from tests.factories import (
    ADDER_SOLUTION,
    add_graded_submission,
    authored_assignment,
    create_account,
    graded_submission,
    grader_on,
    memory_outbox,
    queued_submission,
)
from tests.grading.test_worker import HeldSandbox

Factory = async_sessionmaker[AsyncSession]


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """What is fair is decided by the queue's priorities and the grader, not by the
    database (the claims' SQL is tested on both elsewhere): SQLite only, to keep the
    suite short."""
    return sqlite_copy(sqlite_template, tmp_path)


BACKLOG_PER_ASSIGNMENT = 20


async def add_passed(
    session: AsyncSession, user_id: int, assignment: Assignment, count: int
) -> None:
    """``count`` graded (passed) submissions of the student, to regrade."""
    for _ in range(count):
        await add_graded_submission(
            session,
            user_id=user_id,
            assignment=assignment,
            status=SubmissionStatus.passed,
            score=float(assignment.points),
        )


async def regrade_backlog(
    session: AsyncSession, outbox: Outbox, assignments: list[Assignment], per_assignment: int
) -> User:
    """A student with ``per_assignment`` passed submissions of each assignment, all sent
    back to the queue by regrades (bulk work) on ``outbox``."""
    backlogged = await create_anonymous_user(session)
    for assignment in assignments:
        await add_passed(session, backlogged.id, assignment, per_assignment)
    for assignment in assignments:
        await service.regrade_assignment(session, outbox=outbox, assignment=assignment)
    return backlogged


async def finished_count(factory: Factory, user_id: int) -> int:
    async with factory() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Submission)
            .where(
                Submission.user_id == user_id,
                Submission.status.in_(FINAL_STATUSES),
                Submission.regrading.is_(False),
            )
        )
    return int(count or 0)


async def wait_until(check: object, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("backlog_source", ["regrade", "recovery"])
async def test_a_submission_overtakes_another_students_regrade_backlog(
    settings: Settings, course_dir: Path, session_factory: Factory, backlog_source: str
) -> None:
    """``recovery``: the regrade's jobs were lost (the process died after its commit) and
    an embedded grader publishes every queued row again when it starts."""
    await import_course_dir(settings, course_dir)
    outbox = memory_outbox(session_factory)
    # Where the regrade's own jobs go: lost with the old process, for a recovery.
    regrade_outbox = memory_outbox(session_factory) if backlog_source == "recovery" else outbox
    async with transaction(session_factory) as session:
        assignments = await list_assignments(session)
        # A's work on every assignment goes back to the queue, as bulk work.
        backlogged = await regrade_backlog(
            session, regrade_outbox, assignments, BACKLOG_PER_ASSIGNMENT
        )
        newcomer = await create_anonymous_user(session)
    backlog = BACKLOG_PER_ASSIGNMENT * len(assignments)

    config = grader_config(settings.model_copy(update={"grader_slots": 1}))
    sandbox = await start_sandbox(settings, slots=config.slots)
    grader = grader_on(session_factory, outbox, sandbox, config)
    await grader.start(recover=backlog_source == "recovery")
    try:
        # The grader is busy with the backlog when B submits.
        await wait_until(lambda: _at_least(session_factory, backlogged.id, 2))
        submission = await queued_submission(session_factory, outbox, assignments[0], user=newcomer)
        await wait_until(lambda: _at_least(session_factory, newcomer.id, 1))
    finally:
        await grader.stop()
        await sandbox.close()

    async with session_factory() as session:
        events = list(await session.scalars(select(Event).order_by(Event.id)))
        graded = await session.get(Submission, submission.id)
    assert graded is not None
    assert graded.status is SubmissionStatus.passed
    mine = [e.id for e in events if e.payload["submission"]["id"] == submission.id]
    queued_at, finished_at = mine[0], mine[-1]
    finals = {s.value for s in FINAL_STATUSES}
    backlog_results = [
        e.id
        for e in events
        if e.user_id == backlogged.id and e.payload["submission"]["status"] in finals
    ]
    overtaken_by = [i for i in backlog_results if queued_at < i < finished_at]
    # B waited for the run in the slot and the ones claimed ahead at most, not for A.
    assert len(overtaken_by) <= config.slots + config.claim_ahead
    # Judged by the events' order, not by what is finished once the grader has
    # stopped: it went on with the backlog after B's result.
    assert len([i for i in backlog_results if i < finished_at]) < backlog


async def _at_least(factory: Factory, user_id: int, count: int) -> bool:
    return await finished_count(factory, user_id) >= count


async def test_a_student_cannot_queue_a_second_submission_on_another_assignment(
    settings: Settings, course_dir: Path, session_factory: Factory
) -> None:
    await import_course_dir(settings, course_dir)
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        student = await create_anonymous_user(session)
        first, second = await list_assignments(session)
    submits: list[Submission | Conflict] = []
    for assignment in (first, second):
        try:
            submits.append(
                await queued_submission(session_factory, outbox, assignment, user=student)
            )
        except Conflict as conflict:
            submits.append(conflict)
    assert isinstance(submits[0], Submission)
    assert isinstance(submits[1], Conflict)
    # So one student is one job in the interactive queue, whatever they try.
    assert await outbox.queue.depth("grading") == 1


async def status_of(factory: Factory, submission_id: int) -> SubmissionStatus:
    async with factory() as session:
        submission = await session.get(Submission, submission_id)
    assert submission is not None
    return submission.status


async def test_a_submission_claimed_ahead_runs_before_a_regrade_claimed_before_it(
    settings: Settings, course_dir: Path, session_factory: Factory
) -> None:
    await import_course_dir(settings, course_dir)
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        [adder, _] = await list_assignments(session)
        backlogged = await create_anonymous_user(session)
        await add_passed(session, backlogged.id, adder, 2)
        first, second = await service.regrade_assignment(session, outbox=outbox, assignment=adder)
        newcomer = await create_anonymous_user(session)
    # One slot, and room to claim two ahead of it: the first regrade run is held in
    # the sandbox until the submission has been claimed behind the second.
    config = replace(grader_config(settings), slots=1, claim_ahead=2)
    sandbox = HeldSandbox(await start_sandbox(settings, slots=1))
    grader = grader_on(session_factory, outbox, sandbox, config)
    await grader.start(recover=False)
    try:
        await asyncio.wait_for(sandbox.entered.wait(), 60)
        await wait_until(lambda: _is(session_factory, second, SubmissionStatus.running))
        submission = await queued_submission(session_factory, outbox, adder, user=newcomer)
        await wait_until(lambda: _is(session_factory, submission.id, SubmissionStatus.running))
        sandbox.go.set()
        await wait_until(lambda: _is(session_factory, second, *FINAL_STATUSES))
        await wait_until(lambda: _is(session_factory, submission.id, *FINAL_STATUSES))
    finally:
        await grader.stop()
        await sandbox.close()

    async with session_factory() as session:
        finals = [
            e.payload["submission"]["id"]
            for e in await session.scalars(select(Event).order_by(Event.id))
            if e.payload["submission"]["status"] in {s.value for s in FINAL_STATUSES}
        ]
    assert finals.index(first) < finals.index(submission.id) < finals.index(second)


async def _is(factory: Factory, submission_id: int, *statuses: SubmissionStatus) -> bool:
    return await status_of(factory, submission_id) in statuses


class RecordingSandbox(HeldSandbox):
    """``HeldSandbox`` that notes, as each run ends, whether it was the newcomer's
    (its code carries ``marker``)."""

    def __init__(self, sandbox: Sandbox, marker: bytes) -> None:
        super().__init__(sandbox)
        self.marker = marker
        self.finished: list[bool] = []

    async def run(self, spec: RunSpec, *, on_progress: ProgressCallback | None = None) -> RunResult:
        result = await super().run(spec, on_progress=on_progress)
        self.finished.append(any(self.marker in content for content in spec.files.values()))
        return result


async def _queue_previews(factory: Factory, outbox: Outbox, count: int) -> None:
    async with factory() as session:
        [adder, _] = await list_assignments(session)
    for i in range(count):
        await graded_submission(factory, adder, 1, code=f"# backlog {i}\n{ADDER_SOLUTION}")
    async with transaction(factory) as session:
        await previews.start_preview(session, outbox=outbox, assignment=adder, teacher=None)


async def _queue_checks(factory: Factory, outbox: Outbox, count: int) -> None:
    teacher_id = await create_account(factory, "teacher@example.org", role=Role.teacher)
    async with transaction(factory) as session:
        teacher = await session.get_one(User, teacher_id)
        course = await members.create_course(session, teacher=teacher, slug="c", title="C")
        for i in range(count):
            await checks.save_assignment(
                session,
                outbox=outbox,
                course=course,
                user=teacher,
                changes=authored_assignment(slug=f"sum-{i}"),
            )


async def _bulk_running(factory: Factory, backlog: str) -> int:
    async with factory() as session:
        if backlog == "preview":
            status = PreviewResult.status == SubmissionStatus.running
            query = select(func.count()).select_from(PreviewResult).where(status)
        else:
            draft_status = AssignmentDraft.check_status == CheckStatus.running
            query = select(func.count()).select_from(AssignmentDraft).where(draft_status)
        return int(await session.scalar(query) or 0)


@pytest.mark.parametrize("backlog", ["preview", "check"])
async def test_a_submission_claimed_ahead_runs_before_previews_and_checks_claimed_before_it(
    settings: Settings, course_dir: Path, session_factory: Factory, backlog: str
) -> None:
    """Regrade previews and solution checks take their turn at the grader's gate at bulk
    priority: a submission claimed behind two of them waits for the run in the slot
    only, one run, not for the bulk run claimed before it."""
    await import_course_dir(settings, course_dir)
    outbox = memory_outbox(session_factory)
    queue_backlog = _queue_previews if backlog == "preview" else _queue_checks
    await queue_backlog(session_factory, outbox, 2)
    async with session_factory() as session:
        [adder, _] = await list_assignments(session)
    # One slot, and room to claim two ahead of it: the first bulk run is held in the
    # sandbox until the submission has been claimed behind the second.
    config = replace(grader_config(settings), slots=1, claim_ahead=2)
    marker = b"# the newcomer"
    sandbox = RecordingSandbox(await start_sandbox(settings, slots=1), marker)
    grader = grader_on(session_factory, outbox, sandbox, config)
    await grader.start(recover=False)
    try:
        await asyncio.wait_for(sandbox.entered.wait(), 60)
        await wait_until(lambda: _at_least_running(session_factory, backlog, 2))
        submission = await queued_submission(
            session_factory, outbox, adder, code=f"{marker.decode()}\n{ADDER_SOLUTION}"
        )
        await wait_until(lambda: _is(session_factory, submission.id, SubmissionStatus.running))
        sandbox.go.set()
        await wait_until(lambda: _ran(sandbox, 3))
    finally:
        await grader.stop()
        await sandbox.close()
    assert await status_of(session_factory, submission.id) is SubmissionStatus.passed
    # The held bulk run, then the submission, then the bulk run claimed before it.
    assert sandbox.finished == [False, True, False]


async def _at_least_running(factory: Factory, backlog: str, count: int) -> bool:
    return await _bulk_running(factory, backlog) >= count


async def _ran(sandbox: RecordingSandbox, count: int) -> bool:
    return len(sandbox.finished) >= count
