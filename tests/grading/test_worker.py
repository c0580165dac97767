"""Grader slots: duplicate jobs, malformed messages and restarts lose and double nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.service import create_anonymous_user
from gradeflow.app import create_app
from gradeflow.courses.service import list_assignments
from gradeflow.db import create_engine, create_session_factory, transaction, utcnow
from gradeflow.events.models import Event
from gradeflow.grading.messages import GRADING_QUEUE, GradeJob
from gradeflow.grading.models import Submission
from gradeflow.grading.sandbox import (
    ProcessSandbox,
    ProgressCallback,
    RunResult,
    RunSpec,
    Sandbox,
    ZygoteSandbox,
)
from gradeflow.grading.service import expired_leases, submit_code
from gradeflow.grading.verdicts import SubmissionStatus
from gradeflow.runtime import grader_config
from gradeflow.settings import Settings
from tests.conftest import import_course_dir
from tests.factories import (
    ADDER_SOLUTION,
    ADDER_TESTS,
    grader_on,
    memory_outbox,
    queued_submission,
)
from tests.grading.sandbox.test_cgroups import needs_cgroup_v2
from tests.grading.sandbox.time_scale import scaled


async def _submissions(settings: Settings, count: int) -> list[int]:
    """``count`` students each with one queued submission, written without any grader running."""
    engine = create_engine(settings.resolved_database_url)
    ids = []
    try:
        factory = create_session_factory(engine)
        for i in range(count):
            async with transaction(factory) as session:
                user = await create_anonymous_user(session)
                assignment = (await list_assignments(session))[0]
                submission = await submit_code(
                    session,
                    outbox=memory_outbox(factory),
                    user=user,
                    assignment=assignment,
                    code=ADDER_SOLUTION + f"# {i}\n",
                    max_code_bytes=65536,
                )
                ids.append(submission.id)
    finally:
        await engine.dispose()
    return ids


async def _wait_all_final(
    factory: async_sessionmaker[AsyncSession], ids: list[int], timeout: float = 30
) -> dict[int, Submission]:
    for _ in range(int(timeout / 0.05)):
        async with factory() as session:
            rows = list(await session.scalars(select(Submission).where(Submission.id.in_(ids))))
        if len(rows) == len(ids) and all(r.status.is_final for r in rows):
            return {r.id: r for r in rows}
        await asyncio.sleep(0.05)
    raise AssertionError("not all graded")


async def test_work_left_queued_or_running_by_a_dead_process_is_graded_after_restart(
    settings: Settings, course_dir: Path
) -> None:
    await import_course_dir(settings, course_dir)
    ids = await _submissions(settings, 4)
    engine = create_engine(settings.resolved_database_url)
    async with transaction(create_session_factory(engine)) as session:
        # Two of them look like runs a crashed process was in the middle of.
        await session.execute(
            update(Submission)
            .where(Submission.id.in_(ids[:2]))
            .values(status=SubmissionStatus.running, lease_owner="dead:1", attempts=1)
        )
    await engine.dispose()

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        rows = await _wait_all_final(app.state.runtime.session_factory, ids)
    assert {r.status for r in rows.values()} == {SubmissionStatus.passed}
    assert [rows[i].attempts for i in ids] == [2, 2, 1, 1]


async def test_a_job_delivered_many_times_is_graded_once(
    settings: Settings, course_dir: Path
) -> None:
    await import_course_dir(settings, course_dir)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        [submission_id] = await _submissions(settings, 1)
        queue = app.state.runtime.queue
        for _ in range(5):
            await queue.publish(GRADING_QUEUE, GradeJob(submission_id).encode())
        await queue.publish(GRADING_QUEUE, b"not json")
        await queue.publish(GRADING_QUEUE, b'{"submission_id": -3}')
        rows = await _wait_all_final(app.state.runtime.session_factory, [submission_id])
        await asyncio.sleep(0.5)  # let every duplicate reach a slot
        factory = app.state.runtime.session_factory
        async with factory() as session:
            statuses = [
                e.payload["submission"]["status"]
                for e in await session.scalars(select(Event).order_by(Event.id))
            ]
            count = await session.scalar(select(func.count()).select_from(Submission))
    assert rows[submission_id].attempts == 1
    assert statuses == ["queued", "running", "passed"]
    assert count == 1


class HeldSandbox:
    """A real sandbox whose runs wait for the test first, as a run waits behind busy
    sandbox slots: the only way a run outlasts time limit plus margin."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    async def start(self) -> None:
        await self.sandbox.start()

    async def close(self) -> None:
        await self.sandbox.close()

    async def run(self, spec: RunSpec, *, on_progress: ProgressCallback | None = None) -> RunResult:
        self.entered.set()
        await self.go.wait()
        return await self.sandbox.run(spec, on_progress=on_progress)


async def test_a_run_longer_than_its_lease_keeps_it_by_renewing(
    settings: Settings, course_dir: Path, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    with (course_dir / "adder" / "assignment.toml").open("a") as toml:
        toml.write("time_limit_s = 2\n")
    await import_course_dir(settings, course_dir)
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        assignment = (await list_assignments(session))[0]
    submission = await queued_submission(session_factory, outbox, assignment)
    # A lease of 2.5 s renewed every sixth of a second: only a stall of over 2 s
    # would lose it, so a loaded machine still passes.
    config = grader_config(settings.model_copy(update={"lease_margin_s": 0.5}))
    sandbox = HeldSandbox(ProcessSandbox())
    grader = grader_on(session_factory, outbox, sandbox, config)
    await grader.start(recover=False)
    try:
        await asyncio.wait_for(sandbox.entered.wait(), timeout=30)
        async with session_factory() as session:
            claimed = await session.get(Submission, submission.id)
        assert claimed is not None
        assert claimed.lease_expires_at is not None
        first_expiry = claimed.lease_expires_at
        # Until the lease taken at the claim has run out.
        await asyncio.sleep(max(0.0, (first_expiry - utcnow()).total_seconds()) + 0.1)
        async with session_factory() as session:
            running = await session.get(Submission, submission.id)
            assert await expired_leases(session) == []
        assert running is not None
        assert running.lease_expires_at is not None
        assert (running.status, running.lease_owner, running.attempts) == (
            SubmissionStatus.running,
            grader.owner,
            1,
        )
        assert running.lease_expires_at > first_expiry
        sandbox.go.set()
        graded = (await _wait_all_final(session_factory, [submission.id]))[submission.id]
    finally:
        sandbox.go.set()
        await grader.stop()
    assert (graded.status, graded.attempts) == (SubmissionStatus.passed, 1)


async def test_a_lease_counts_as_lost_only_when_two_renewals_miss_it(
    settings: Settings, course_dir: Path, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await import_course_dir(settings, course_dir)
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        assignment = (await list_assignments(session))[0]
    held, finished, lost = [
        (await queued_submission(session_factory, outbox, assignment)).id for _ in range(3)
    ]
    grader = grader_on(session_factory, outbox, ProcessSandbox(), grader_config(settings))
    owners = {held: grader.owner, finished: grader.owner, lost: "another grader"}
    async with transaction(session_factory) as session:
        for submission_id, owner in owners.items():
            await session.execute(
                update(Submission)
                .where(Submission.id == submission_id)
                .values(status=SubmissionStatus.running, lease_owner=owner, attempts=1)
            )
        # Its result was committed while a renewal ran, before its grade returned.
        await session.execute(
            update(Submission)
            .where(Submission.id == finished)
            .values(status=SubmissionStatus.passed, lease_owner=None, finished_at=utcnow())
        )
    # In flight in this process (not started: no slot takes jobs here).
    grader._leases.update({held: 60.0, finished: 60.0, lost: 60.0})

    with structlog.testing.capture_logs() as first:
        await grader.renew_leases_once()
    grader._leases.pop(finished)  # its grade returned meanwhile
    with structlog.testing.capture_logs() as second:
        await grader.renew_leases_once()

    assert [e for e in first if e["event"] == "grading.lease_lost"] == []
    assert [e["submission_id"] for e in second if e["event"] == "grading.lease_lost"] == [lost]
    assert set(grader._leases) == {held}
    async with session_factory() as session:
        renewed = await session.get_one(Submission, held)
    assert renewed.lease_expires_at is not None
    assert renewed.lease_expires_at > utcnow()


# A test that starts threads until the kernel refuses one: past the judge's pids.max
# (small stacks, or RLIMIT_AS would refuse them first).
THREAD_HUNGRY_TESTS = (
    ADDER_TESTS
    + """
    def test_with_many_threads(self):
        import threading

        threading.stack_size(256 * 1024)
        stop = threading.Event()
        try:
            for _ in range(100):
                threading.Thread(target=stop.wait, daemon=True).start()
        except RuntimeError:
            pass
        stop.set()
"""
)


@needs_cgroup_v2
async def test_tests_that_reach_the_graders_own_limits_end_as_an_error_without_a_retry(
    settings: Settings, course_dir: Path, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    (course_dir / "adder" / "tests.py").write_text(THREAD_HUNGRY_TESTS)
    with (course_dir / "adder" / "assignment.toml").open("a") as toml:
        toml.write(f"time_limit_s = {min(120, round(scaled(10)))}\n")
    await import_course_dir(settings, course_dir)
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        assignment = (await list_assignments(session))[0]
    submission = await queued_submission(session_factory, outbox, assignment)
    sandbox = ZygoteSandbox(slots=1, cgroups="on")
    grader = grader_on(session_factory, outbox, sandbox, grader_config(settings))
    await grader.start(recover=False)
    try:
        graded = await _wait_all_final(session_factory, [submission.id], timeout=scaled(60))
    finally:
        await grader.stop()
        await sandbox.close()

    row = graded[submission.id]
    # Recorded at the first attempt with its reason, not retried into "failed N times".
    assert (row.status, row.attempts) == (SubmissionStatus.error, 1)
    assert row.feedback is not None
    assert row.feedback["outcome"] == "internal_error"
    assert row.feedback["assignment_error"] is True
    assert row.feedback["message"].startswith(
        "The grader stopped: the tests themselves used more processes or threads"
    )
    assert {test["outcome"] for test in row.feedback["tests"]} == {"not_run"}
    assert not row.score
