"""Solution checks are as crash-safe as grading runs: lost, duplicated or stale runs."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.app import create_app
from gradeflow.courses import members
from gradeflow.courses.models import Assignment, AssignmentDraft, CheckStatus, Course
from gradeflow.db import transaction, utcnow
from gradeflow.events.models import Event
from gradeflow.grading import checks
from gradeflow.grading.check_runner import SolutionChecker
from gradeflow.grading.messages import GRADING_QUEUE, SolutionCheckJob
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.sandbox import ProcessSandbox, RunResult
from gradeflow.grading.worker import Grader
from gradeflow.infra.slots import PriorityGate
from gradeflow.runtime import grader_config
from gradeflow.settings import Settings
from tests.conftest import StatementGate, sqlite_writable_now
from tests.factories import authored_assignment, create_account, grader_on, memory_outbox


async def _authored(factory: async_sessionmaker[AsyncSession], outbox: Outbox) -> int:
    """A course with one assignment saved by the API's service, its check queued; the draft id."""
    teacher_id = await create_account(factory, "teacher@example.org", role=Role.teacher)
    async with transaction(factory) as session:
        teacher = await session.get_one(User, teacher_id)
        course = await members.create_course(session, teacher=teacher, slug="c", title="C")
        saved = await checks.save_assignment(
            session, outbox=outbox, course=course, user=teacher, changes=authored_assignment()
        )
        assert saved.draft is not None
        return saved.draft.id


async def _wait_checked(
    factory: async_sessionmaker[AsyncSession], draft_id: int, timeout: float = 60
) -> AssignmentDraft:
    for _ in range(int(timeout / 0.05)):
        async with factory() as session:
            draft = await session.get_one(AssignmentDraft, draft_id)
        if draft.check_status in (CheckStatus.passed, CheckStatus.failed, CheckStatus.error):
            return draft
        await asyncio.sleep(0.05)
    raise AssertionError(f"draft {draft_id} not checked within {timeout}s")


async def _published(factory: async_sessionmaker[AsyncSession], draft_id: int) -> bool:
    async with factory() as session:
        draft = await session.get_one(AssignmentDraft, draft_id)
        return (await session.get_one(Assignment, draft.assignment_id)).published


async def test_a_check_claimed_by_a_crashed_worker_is_taken_over_by_the_sweeper(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    outbox = memory_outbox(session_factory)
    draft_id = await _authored(session_factory, outbox)
    await outbox.queue.close()  # the message went with the crashed worker
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        await session.execute(
            update(AssignmentDraft)
            .where(AssignmentDraft.id == draft_id)
            .values(
                check_status=CheckStatus.running,
                lease_owner="dead:1",
                lease_expires_at=utcnow() - dt.timedelta(seconds=1),
                attempts=1,
            )
        )
    grader = grader_on(session_factory, outbox, ProcessSandbox(), grader_config(settings))
    # Not embedded recovery: only the expired lease, found by the sweeper, brings it back.
    await grader.start(recover=False)
    try:
        draft = await _wait_checked(session_factory, draft_id)
    finally:
        await grader.stop()
    assert (draft.check_status, draft.attempts, draft.lease_owner) == (CheckStatus.passed, 2, None)
    assert await _published(session_factory, draft_id)


async def test_a_check_delivered_many_times_runs_once_and_poison_is_dropped(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    draft_id = await _authored(session_factory, memory_outbox(session_factory))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        queue = app.state.runtime.queue
        for _ in range(4):
            await queue.publish(GRADING_QUEUE, SolutionCheckJob(draft_id).encode())
        await queue.publish(GRADING_QUEUE, b'{"kind": "solution_check", "draft_id": "x"}')
        factory = app.state.runtime.session_factory
        draft = await _wait_checked(factory, draft_id)
        await asyncio.sleep(0.5)  # let every duplicate reach a slot
        async with factory() as session:
            seen = [
                e.payload["assignment"]["check"]["status"]
                for e in await session.scalars(
                    select(Event).where(Event.type == checks.CHECK_EVENT).order_by(Event.id)
                )
            ]
            draft = await session.get_one(AssignmentDraft, draft_id)
    assert (draft.check_status, draft.attempts) == (CheckStatus.passed, 1)
    assert seen == ["queued", "running", "passed"]


async def test_a_check_left_running_by_a_dead_embedded_process_runs_after_restart(
    settings: Settings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    draft_id = await _authored(session_factory, memory_outbox(session_factory))
    async with transaction(session_factory) as session:
        await session.execute(
            update(AssignmentDraft)
            .where(AssignmentDraft.id == draft_id)
            .values(
                check_status=CheckStatus.running,
                lease_owner="dead:1",
                lease_expires_at=utcnow() + dt.timedelta(hours=1),
                attempts=1,
            )
        )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        draft = await _wait_checked(app.state.runtime.session_factory, draft_id)
    assert (draft.check_status, draft.attempts) == (CheckStatus.passed, 2)


async def test_a_check_in_flight_at_a_stop_without_grace_is_handed_back_at_once(
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("SQLite only: the claim is held in a statement by a SQLite function")
    gate = StatementGate()
    claim_check = checks.claim_check

    async def claim_then_wait(session: AsyncSession, **kwargs: Any) -> AssignmentDraft | None:
        draft = await claim_check(session, **kwargs)  # the claim holds SQLite's write lock
        await gate.hold(session)  # in flight when the stop comes
        return draft

    stop = Grader.stop

    async def stop_then_open_gate(grader: Grader, *, grace_s: float = 0.0) -> None:
        stopping = asyncio.ensure_future(stop(grader, grace_s=grace_s))
        await asyncio.sleep(0)  # its first step cancels the slots
        gate.open()
        await stopping

    writable_at_release: list[bool] = []
    release = SolutionChecker._release

    async def release_noting_the_lock(
        checker: SolutionChecker, draft_id: int, *, republish: bool
    ) -> None:
        writable_at_release.append(sqlite_writable_now(settings.resolved_database_url))
        await release(checker, draft_id, republish=republish)

    monkeypatch.setattr(checks, "claim_check", claim_then_wait)
    monkeypatch.setattr(Grader, "stop", stop_then_open_gate)
    monkeypatch.setattr(SolutionChecker, "_release", release_noting_the_lock)
    draft_id = await _authored(session_factory, memory_outbox(session_factory))
    app = create_app(settings)
    async with app.router.lifespan_context(app):  # embedded recovery publishes the check
        assert await gate.reached()
    async with session_factory() as session:
        draft = await session.get_one(AssignmentDraft, draft_id)
    # The cancelled claim's transaction once outlived its task (SQLite kept it in a
    # connection closed while a cursor held its statement): the release found the write
    # lock taken, waited out busy_timeout (10 s) and failed.
    assert writable_at_release == [True]
    assert (draft.check_status, draft.lease_owner) == (CheckStatus.queued, None)


PASSED = RunResult(outcome="passed", tests=(), message="", stdout="", stderr="", duration_ms=1)


async def test_a_run_of_files_edited_since_its_claim_records_nothing(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    outbox = memory_outbox(session_factory)
    draft_id = await _authored(session_factory, outbox)
    async with transaction(session_factory) as session:
        claimed = await checks.claim_check(
            session,
            outbox=outbox,
            draft_id=draft_id,
            owner="slot",
            max_attempts=3,
            lease_margin_s=30,
        )
    assert claimed is not None
    async with transaction(session_factory) as session:
        draft = await session.get_one(AssignmentDraft, draft_id)
        assignment = await session.get_one(Assignment, draft.assignment_id)
        teacher = await session.scalar(select(User).where(User.email == "teacher@example.org"))
        assert teacher is not None
        await checks.save_assignment(
            session,
            outbox=outbox,
            course=await session.get_one(Course, assignment.course_id),
            user=teacher,
            changes={"solution": "def add(a, b):\n    return 0\n"},
            assignment=assignment,
        )
    async with transaction(session_factory) as session:
        stale = await checks.record_check(
            session,
            outbox=outbox,
            draft_id=draft_id,
            owner="slot",
            generation=claimed.generation,
            result=PASSED,
        )
    assert stale is None
    async with session_factory() as session:
        draft = await session.get_one(AssignmentDraft, draft_id)
    assert (draft.check_status, draft.generation) == (CheckStatus.queued, claimed.generation + 1)
    assert not await _published(session_factory, draft_id)


async def test_a_check_out_of_attempts_ends_as_error_not_stuck(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    outbox = memory_outbox(session_factory)
    draft_id = await _authored(session_factory, outbox)
    async with transaction(session_factory) as session:
        await session.execute(
            update(AssignmentDraft).where(AssignmentDraft.id == draft_id).values(attempts=3)
        )
    async with transaction(session_factory) as session:
        claimed = await checks.claim_check(
            session, outbox=outbox, draft_id=draft_id, owner="s", max_attempts=3, lease_margin_s=1
        )
    assert claimed is None
    async with session_factory() as session:
        draft = await session.get_one(AssignmentDraft, draft_id)
    assert draft.check_status is CheckStatus.error
    assert draft.check_result is not None
    assert "save the assignment again" in draft.check_result["message"]


async def test_a_check_whose_files_cannot_be_laid_out_is_recorded_at_once_not_retried(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    # Saved before saving refused it: "a" both a support file and a directory.
    outbox = memory_outbox(session_factory)
    draft_id = await _authored(session_factory, outbox)
    async with transaction(session_factory) as session:
        draft = await session.get_one(AssignmentDraft, draft_id)
        support = {"a": base64.b64encode(b"x").decode(), "a/b": base64.b64encode(b"y").decode()}
        draft.content = draft.content | {"support_files": support}
    checker = SolutionChecker(
        session_factory=session_factory,
        outbox=outbox,
        sandbox=ProcessSandbox(),
        turns=PriorityGate(1),
        owner="w",
        max_attempts=3,
        lease_margin_s=30,
        output_limit_bytes=1024,
    )
    await checker.check(draft_id)
    async with session_factory() as session:
        draft = await session.get_one(AssignmentDraft, draft_id)
    assert (draft.check_status, draft.attempts, draft.lease_owner) == (CheckStatus.failed, 1, None)
    assert draft.check_result is not None
    message = draft.check_result["message"]
    assert "paths used both as file and directory: ['a']" in message
    assert "save it again" in message
