"""Stuck submissions, on SQLite and PostgreSQL: which are listed, and what a re-run
does and refuses. A submission is lost the way a dead grader loses it: claimed, its
lease let run out, then claimed again with no attempts left."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.courses import members
from gradeflow.courses.models import Assignment, Course
from gradeflow.db import transaction, utcnow
from gradeflow.errors import Conflict, Forbidden, NotFound
from gradeflow.events.models import Event
from gradeflow.grading import runs, service, stuck
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.stuck import StuckReason
from gradeflow.grading.verdicts import SubmissionStatus
from tests.factories import ADDER_SOLUTION, create_account, memory_outbox, queued_jobs, run_result

Factory = async_sessionmaker[AsyncSession]
THRESHOLD = dt.timedelta(minutes=5)


async def submit(
    factory: Factory, outbox: Outbox, assignment: Assignment, user_id: int, code: str
) -> int:
    async with transaction(factory) as session:
        user = await session.get(User, user_id)
        assert user is not None
        submission = await service.submit_code(
            session,
            outbox=outbox,
            user=user,
            assignment=assignment,
            code=code,
            max_code_bytes=65536,
        )
        return submission.id


async def claim(
    factory: Factory, outbox: Outbox, submission_id: int, owner: str, now: dt.datetime
) -> Submission | None:
    async with transaction(factory) as session:
        return await runs.claim_submission(
            session,
            outbox=outbox,
            submission_id=submission_id,
            owner=owner,
            max_attempts=1,
            lease_margin_s=30,
            now=now,
        )


async def lose(factory: Factory, outbox: Outbox, submission_id: int) -> None:
    """A grader claims it and dies; the next claim finds no attempt left: ``error``."""
    now = utcnow()
    assert await claim(factory, outbox, submission_id, "dead", now) is not None
    assert await claim(factory, outbox, submission_id, "next", now + dt.timedelta(hours=1)) is None


async def student(factory: Factory) -> int:
    async with transaction(factory) as session:
        return (await create_anonymous_user(session)).id


async def load(factory: Factory, submission_id: int) -> Submission:
    async with factory() as session:
        submission = await session.get(Submission, submission_id)
        assert submission is not None
        return submission


async def teacher_of_basics(factory: Factory, email: str = "teach@example.org") -> User:
    await create_account(factory, email, role=Role.teacher)
    async with transaction(factory) as session:
        course = await session.scalar(select(Course).where(Course.slug == "basics"))
        assert course is not None
        return await members.add_teacher(session, course, email=email)


async def rerun(
    factory: Factory,
    outbox: Outbox,
    submission_id: int,
    user_id: int,
    now: dt.datetime | None = None,
) -> Submission:
    async with transaction(factory) as session:
        user = await session.get(User, user_id)
        assert user is not None
        return await stuck.rerun_submission(
            session,
            outbox=outbox,
            submission_id=submission_id,
            user=user,
            stuck_after=THRESHOLD,
            now=now,
        )


async def listed(
    factory: Factory, *, course_id: int | None, now: dt.datetime | None = None
) -> dict[int, StuckReason]:
    async with factory() as session:
        found = await stuck.list_stuck(session, stuck_after=THRESHOLD, course_id=course_id, now=now)
        return {s.submission.id: s.reason for s in found}


async def test_lists_failures_on_our_side_and_long_waits_but_not_student_failures(
    session_factory: Factory, adder: Assignment
) -> None:
    outbox = memory_outbox(session_factory)
    lost = await submit(session_factory, outbox, adder, await student(session_factory), "x = 1\n")
    await lose(session_factory, outbox, lost)
    waiting = await submit(
        session_factory, outbox, adder, await student(session_factory), "x = 2\n"
    )
    running = await submit(
        session_factory, outbox, adder, await student(session_factory), "x = 3\n"
    )
    assert await claim(session_factory, outbox, running, "alive", utcnow()) is not None
    graded = await submit(session_factory, outbox, adder, await student(session_factory), "x = 4\n")
    assert await claim(session_factory, outbox, graded, "alive", utcnow()) is not None
    async with transaction(session_factory) as session:
        await runs.record_result(
            session,
            outbox=outbox,
            submission_id=graded,
            owner="alive",
            generation=0,
            result=run_result(0),
        )

    assert await listed(session_factory, course_id=adder.course_id) == {lost: StuckReason.error}
    later = utcnow() + THRESHOLD + dt.timedelta(seconds=1)
    assert await listed(session_factory, course_id=adder.course_id, now=later) == {
        lost: StuckReason.error,
        waiting: StuckReason.queued_too_long,
        running: StuckReason.running_too_long,
    }
    assert await listed(session_factory, course_id=None) == {lost: StuckReason.error}
    assert await listed(session_factory, course_id=adder.course_id + 1000) == {}
    async with session_factory() as session:
        [item] = await stuck.list_stuck(session, stuck_after=THRESHOLD, course_id=adder.course_id)
        view = stuck.describe_stuck(item)
    assert view["message"] == runs.OUT_OF_ATTEMPTS.format(max_attempts=1)
    assert view["student"] == f"Guest #{item.submission.user_id}"
    assert view["assignment_title"] == adder.title


async def test_a_rerun_grades_the_same_row_again_and_costs_the_student_nothing(
    session_factory: Factory, adder: Assignment
) -> None:
    outbox = memory_outbox(session_factory)
    teacher = await teacher_of_basics(session_factory)
    owner = await student(session_factory)
    lost = await submit(session_factory, outbox, adder, owner, "x = 1\n")
    await lose(session_factory, outbox, lost)
    before = await load(session_factory, lost)
    jobs = await queued_jobs(outbox)

    await rerun(session_factory, outbox, lost, teacher.id)

    after = await load(session_factory, lost)
    assert after.status is SubmissionStatus.queued
    assert (after.attempts, after.generation) == (0, before.generation + 1)
    assert after.feedback is None
    assert after.score is None
    assert await queued_jobs(outbox) == jobs + 1
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 1
        last = await session.scalar(
            select(Event).where(Event.user_id == owner).order_by(Event.id.desc()).limit(1)
        )
    assert last is not None
    assert last.payload["submission"]["status"] == "queued"
    # Graded now, the row counts for the student like any result.
    assert await claim(session_factory, outbox, lost, "alive", utcnow()) is not None
    async with transaction(session_factory) as session:
        stored = await runs.record_result(
            session,
            outbox=outbox,
            submission_id=lost,
            owner="alive",
            generation=after.generation,
            result=run_result(2),
        )
        assert stored is not None
        assert stored.status is SubmissionStatus.passed
        assert await service.total_points(session, user_id=owner) == adder.points
    assert await listed(session_factory, course_id=adder.course_id) == {}


async def test_a_rerun_is_refused_for_work_that_is_not_stuck_or_would_be_a_second_pending(
    session_factory: Factory, adder: Assignment
) -> None:
    outbox = memory_outbox(session_factory)
    teacher = await teacher_of_basics(session_factory)
    owner = await student(session_factory)
    lost = await submit(session_factory, outbox, adder, owner, "x = 1\n")
    await lose(session_factory, outbox, lost)
    waiting = await submit(session_factory, outbox, adder, owner, "x = 2\n")

    with pytest.raises(Conflict, match="not stuck"):
        await rerun(session_factory, outbox, waiting, teacher.id)
    with pytest.raises(Conflict, match=f"another submission being graded \\(#{waiting}\\)"):
        await rerun(session_factory, outbox, lost, teacher.id)
    assert (await load(session_factory, lost)).status is SubmissionStatus.error
    assert (await load(session_factory, waiting)).status is SubmissionStatus.queued

    # Past the threshold the same queued row is stuck: its job is sent again.
    jobs = await queued_jobs(outbox)
    later = utcnow() + THRESHOLD + dt.timedelta(seconds=1)
    requeued = await rerun(session_factory, outbox, waiting, teacher.id, now=later)
    assert requeued.status is SubmissionStatus.queued
    assert await queued_jobs(outbox) == jobs + 1

    assert await claim(session_factory, outbox, waiting, "alive", utcnow()) is not None
    async with transaction(session_factory) as session:
        await runs.record_result(
            session,
            outbox=outbox,
            submission_id=waiting,
            owner="alive",
            generation=requeued.generation,
            result=run_result(0),
        )
    with pytest.raises(Conflict, match="was graded"):
        await rerun(session_factory, outbox, waiting, teacher.id)


async def test_a_rerun_reuses_the_result_of_identical_code_for_todays_revision(
    session_factory: Factory, adder: Assignment
) -> None:
    outbox = memory_outbox(session_factory)
    teacher = await teacher_of_basics(session_factory)
    lost = await submit(
        session_factory, outbox, adder, await student(session_factory), ADDER_SOLUTION
    )
    await lose(session_factory, outbox, lost)
    other = await submit(
        session_factory, outbox, adder, await student(session_factory), ADDER_SOLUTION
    )
    # Lost too, it was not there to reuse when submitted; graded here.
    assert await claim(session_factory, outbox, other, "alive", utcnow()) is not None
    async with transaction(session_factory) as session:
        await runs.record_result(
            session,
            outbox=outbox,
            submission_id=other,
            owner="alive",
            generation=0,
            result=run_result(2),
        )
    jobs = await queued_jobs(outbox)

    reran = await rerun(session_factory, outbox, lost, teacher.id)

    assert reran.status is SubmissionStatus.passed
    assert reran.reused_from_id == other
    assert reran.score == adder.points
    assert await queued_jobs(outbox) == jobs


async def test_only_the_courses_teachers_and_admins_may_rerun(
    session_factory: Factory, adder: Assignment
) -> None:
    outbox = memory_outbox(session_factory)
    owner = await student(session_factory)
    lost = await submit(session_factory, outbox, adder, owner, "x = 1\n")
    await lose(session_factory, outbox, lost)
    with pytest.raises(Forbidden):  # the student sees the public course but does not teach it
        await rerun(session_factory, outbox, lost, owner)
    other_teacher = await create_account(session_factory, "other@example.org", role=Role.teacher)
    async with transaction(session_factory) as session:
        course = await session.scalar(select(Course).where(Course.slug == "basics"))
        assert course is not None
        course.public = False
    with pytest.raises(NotFound, match="No such submission"):
        await rerun(session_factory, outbox, lost, other_teacher)
    with pytest.raises(NotFound, match="No such submission"):
        await rerun(session_factory, outbox, lost + 1000, other_teacher)
    assert (await load(session_factory, lost)).status is SubmissionStatus.error

    admin = await create_account(session_factory, "root@example.org", role=Role.admin)
    assert (await rerun(session_factory, outbox, lost, admin)).status is SubmissionStatus.queued
