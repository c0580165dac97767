"""Submission rules against both SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import User
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.courses.format import Scoring
from gradeflow.courses.members import PracticeScope
from gradeflow.courses.models import Assignment
from gradeflow.courses.service import list_assignments
from gradeflow.db import transaction, utcnow
from gradeflow.errors import Conflict, Invalid, NotFound, TooLarge
from gradeflow.events.models import Event
from gradeflow.grading import runs, service
from gradeflow.grading.models import Submission
from gradeflow.grading.sandbox import RunResult, TestResult
from gradeflow.grading.verdicts import SubmissionStatus, compute_score
from gradeflow.settings import Settings
from tests.conftest import import_course_dir
from tests.factories import ADDER_SOLUTION, memory_outbox, queued_jobs

Factory = async_sessionmaker[AsyncSession]
LIMIT = 64 * 1024


def result(outcome: str, passed: int, total: int = 2) -> RunResult:
    tests = tuple(
        TestResult(id=f"T.test_{i}", outcome="passed" if i < passed else "failed", message="")
        for i in range(total)
    )
    return RunResult(
        outcome=outcome,
        tests=tests,
        message=f"{passed} of {total} tests passed.",
        stdout="",
        stderr="",
        duration_ms=5,
    )


@pytest.fixture
async def world(settings: Settings, course_dir: Path, session_factory: Factory):
    await import_course_dir(settings, course_dir)
    async with transaction(session_factory) as session:
        user = await create_anonymous_user(session)
        assignments = await list_assignments(session)
    return user, assignments


async def submit(
    factory: Factory, user: User, assignment: Assignment, code: str
) -> tuple[Submission, bool]:
    """The stored submission, and whether a grading job was published after the commit."""
    outbox = memory_outbox(factory)
    async with transaction(factory) as session:
        submission = await service.submit_code(
            session,
            outbox=outbox,
            user=user,
            assignment=assignment,
            code=code,
            max_code_bytes=LIMIT,
        )
    return submission, await queued_jobs(outbox) == 1


async def claim(
    factory: Factory, submission_id: int, owner: str = "w1", **kw: object
) -> Submission | None:
    async with transaction(factory) as session:
        return await runs.claim_submission(
            session,
            outbox=memory_outbox(factory),
            submission_id=submission_id,
            owner=owner,
            max_attempts=3,
            lease_margin_s=30,
            **kw,
        )


async def record(
    factory: Factory, submission_id: int, owner: str, run: RunResult, generation: int = 0
) -> Submission | None:
    async with transaction(factory) as session:
        return await runs.record_result(
            session,
            outbox=memory_outbox(factory),
            submission_id=submission_id,
            owner=owner,
            generation=generation,
            result=run,
        )


async def regrade(factory: Factory, assignment: Assignment) -> list[int]:
    async with transaction(factory) as session:
        return await service.regrade_assignment(
            session, outbox=memory_outbox(factory), assignment=assignment
        )


async def test_a_submission_starts_queued_and_records_an_event(
    world, session_factory: Factory
) -> None:
    user, (adder, _) = world
    submission, needs_grading = await submit(session_factory, user, adder, "x = 1\n")
    assert needs_grading
    assert submission.status is SubmissionStatus.queued
    async with session_factory() as session:
        events = list(await session.scalars(select(Event).where(Event.user_id == user.id)))
    assert [e.payload["submission"]["status"] for e in events] == ["queued"]


async def test_second_submit_while_pending_is_rejected(world, session_factory: Factory) -> None:
    user, (adder, greeter) = world
    first, _ = await submit(session_factory, user, adder, "x = 1\n")
    with pytest.raises(Conflict) as info:
        await submit(session_factory, user, greeter, "y = 2\n")
    assert info.value.details == {"submission_id": first.id}


async def test_concurrent_submits_by_one_user_let_exactly_one_in(
    world, session_factory: Factory
) -> None:
    user, (adder, _) = world
    outcomes = await asyncio.gather(
        *(submit(session_factory, user, adder, f"x = {i}\n") for i in range(6)),
        return_exceptions=True,
    )
    accepted = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(accepted) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if isinstance(o, BaseException))
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 1


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("", Invalid),
        ("   \n\t", Invalid),
        ("a\0b", Invalid),
        ("x" * (LIMIT + 1), TooLarge),
        ("\ud800", Invalid),
    ],
)
async def test_bad_code_is_refused_and_stores_nothing(
    world, session_factory: Factory, code: str, error: type
) -> None:
    user, (adder, _) = world
    with pytest.raises(error):
        await submit(session_factory, user, adder, code)
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 0
        assert await session.scalar(select(func.count()).select_from(Event)) == 0


async def test_a_claim_is_taken_once(world, session_factory: Factory) -> None:
    user, (adder, _) = world
    submission, _ = await submit(session_factory, user, adder, "x = 1\n")
    claims = await asyncio.gather(
        *(claim(session_factory, submission.id, f"w{i}") for i in range(4))
    )
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1
    assert winners[0].status is SubmissionStatus.running
    assert winners[0].attempts == 1


async def test_a_result_from_a_lost_lease_is_ignored(world, session_factory: Factory) -> None:
    user, (adder, _) = world
    submission, _ = await submit(session_factory, user, adder, "x = 1\n")
    await claim(session_factory, submission.id, "w1")
    later = utcnow() + dt.timedelta(minutes=5)
    assert await claim(session_factory, submission.id, "w2", now=later) is not None
    assert await record(session_factory, submission.id, "w1", result("failed", 0)) is None
    stored = await record(session_factory, submission.id, "w2", result("passed", 2))
    assert stored is not None
    assert (stored.status, stored.score, stored.attempts) == (SubmissionStatus.passed, 10.0, 2)
    assert await claim(session_factory, submission.id, "w3", now=later) is None


async def test_a_late_result_from_an_earlier_generation_is_ignored(
    world, session_factory: Factory
) -> None:
    user, (adder, _) = world
    submission, _ = await submit(session_factory, user, adder, "x = 1\n")
    # w1's run outlives its lease; w2 grades the submission; a regrade follows and
    # w1 claims the new generation, so owner and status alone would let the old run in.
    await claim(session_factory, submission.id, "w1")
    later = utcnow() + dt.timedelta(minutes=5)
    assert await claim(session_factory, submission.id, "w2", now=later) is not None
    assert await record(session_factory, submission.id, "w2", result("failed", 0)) is not None
    assert await regrade(session_factory, adder) == [submission.id]
    regraded = await claim(session_factory, submission.id, "w1")
    assert regraded is not None
    assert regraded.generation == 1
    late = await record(session_factory, submission.id, "w1", result("passed", 2), generation=0)
    assert late is None
    async with session_factory() as session:
        row = await session.get(Submission, submission.id)
    assert row is not None
    assert (row.status, row.lease_owner, row.generation) == (SubmissionStatus.running, "w1", 1)
    stored = await record(session_factory, submission.id, "w1", result("failed", 1), generation=1)
    assert stored is not None
    assert (stored.status, stored.score, stored.regrading) == (SubmissionStatus.failed, 5.0, False)


async def test_a_submission_being_regraded_is_not_the_students_pending_one(
    world, session_factory: Factory
) -> None:
    user, (adder, greeter) = world
    first, _ = await submit(session_factory, user, adder, "x = 1\n")
    await claim(session_factory, first.id)
    await record(session_factory, first.id, "w1", result("failed", 0))
    assert await regrade(session_factory, adder) == [first.id]
    second, needs_grading = await submit(session_factory, user, greeter, "y = 2\n")
    assert needs_grading
    async with session_factory() as session:
        assert await service.pending_submission_id(session, user_id=user.id) == second.id
        regraded = await session.get(Submission, first.id)
    assert regraded is not None
    assert (regraded.status, regraded.regrading) == (SubmissionStatus.queued, True)


async def test_a_submission_out_of_attempts_ends_as_error(world, session_factory: Factory) -> None:
    user, (adder, _) = world
    submission, _ = await submit(session_factory, user, adder, "x = 1\n")
    now = utcnow()
    for attempt in range(3):
        now += dt.timedelta(minutes=5)
        assert await claim(session_factory, submission.id, f"w{attempt}", now=now) is not None
    now += dt.timedelta(minutes=5)
    assert await claim(session_factory, submission.id, "w9", now=now) is None
    async with session_factory() as session:
        final = await session.get(Submission, submission.id)
    assert final is not None
    assert final.status is SubmissionStatus.error
    assert "failed 3 times" in final.feedback["message"]


async def test_identical_code_reuses_the_earlier_result(world, session_factory: Factory) -> None:
    user, (adder, _) = world
    first, _ = await submit(session_factory, user, adder, "def add(a, b):\n    return a + b\n")
    await claim(session_factory, first.id)
    await record(session_factory, first.id, "w1", result("passed", 2))
    async with transaction(session_factory) as session:
        other = await create_anonymous_user(session)
    again, needs_grading = await submit(
        session_factory, other, adder, "def add(a, b):\n    return a + b\n"
    )
    assert not needs_grading
    assert (again.status, again.score, again.reused_from_id) == (
        SubmissionStatus.passed,
        10.0,
        first.id,
    )


async def test_identical_code_does_not_take_a_timed_out_result(
    world, session_factory: Factory
) -> None:
    """A run stopped at its time limit (on a loaded machine, say) is not handed to the
    next student with the same code: their own run may finish."""
    user, (adder, _) = world
    code = "def add(a, b):\n    return a + b\n"
    first, _ = await submit(session_factory, user, adder, code)
    await claim(session_factory, first.id)
    stored = await record(session_factory, first.id, "w1", result("timeout", 0))
    assert stored is not None
    assert stored.status is SubmissionStatus.failed
    async with transaction(session_factory) as session:
        other = await create_anonymous_user(session)
    again, needs_grading = await submit(session_factory, other, adder, code)
    assert (again.status, again.reused_from_id) == (SubmissionStatus.queued, None)
    assert needs_grading


async def passed_then_a_test_added(
    world: tuple[User, tuple[Assignment, Assignment]],
    settings: Settings,
    course_dir: Path,
    session_factory: Factory,
    code: str,
) -> tuple[Assignment, Assignment, User]:
    """``code`` graded passed, then a test added to the assignment: the assignment as
    it was, as it is now, and another student."""
    user, (adder, _) = world
    first, _ = await submit(session_factory, user, adder, code)
    await claim(session_factory, first.id)
    await record(session_factory, first.id, "w1", result("passed", 2))
    tests = course_dir / "adder" / "tests.py"
    tests.write_text(
        tests.read_text()
        + "\n    def test_adds_zero(self):\n        self.assertEqual(add(0, 0), 0)\n"
    )
    await import_course_dir(settings, course_dir)
    async with transaction(session_factory) as session:
        changed = await session.get(Assignment, adder.id)
        other = await create_anonymous_user(session)
    assert changed is not None
    assert changed.revision != adder.revision
    return adder, changed, other


async def test_identical_code_is_graded_again_after_the_assignment_changed(
    world, settings: Settings, course_dir: Path, session_factory: Factory
) -> None:
    _, changed, other = await passed_then_a_test_added(
        world, settings, course_dir, session_factory, ADDER_SOLUTION
    )
    again, needs_grading = await submit(session_factory, other, changed, ADDER_SOLUTION)
    assert (again.status, again.reused_from_id) == (SubmissionStatus.queued, None)
    assert needs_grading


async def test_a_submit_carrying_a_stale_revision_is_matched_to_the_assignments_own(
    world, settings: Settings, course_dir: Path, session_factory: Factory
) -> None:
    """The submit route reads the revision from a cache, which may predate a change of
    the tests (up to its TTL; from another process, such as ``gradeflow assignments
    import`` beside ``gradeflow serve``, until then): identical code must still be
    graded against today's tests, not given the result of the old ones."""
    lax = "def add(a, b):\n    return 3\n"
    adder, changed, other = await passed_then_a_test_added(
        world, settings, course_dir, session_factory, lax
    )
    stale = service.SubmitRequest(other.id, adder.id, adder.revision, lax)
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        [again] = await service.submit_group(session, outbox=outbox, requests=[stale])
    assert isinstance(again, Submission)
    assert (again.status, again.reused_from_id) == (SubmissionStatus.queued, None)
    assert again.assignment_revision == changed.revision
    assert await queued_jobs(outbox) == 1


async def test_a_result_is_stamped_with_the_revision_it_was_graded_against(
    world, settings: Settings, course_dir: Path, session_factory: Factory
) -> None:
    """Submitted for one revision and graded after the tests changed, a result belongs
    to the tests it ran: put back to the old tests, identical code is graded again."""
    user, (adder, _) = world
    code = "def add(a, b):\n    return 3\n"
    tests = course_dir / "adder" / "tests.py"
    original = tests.read_text()
    first, _ = await submit(session_factory, user, adder, code)
    tests.write_text(original + "\n    def test_adds_zero(self):\n        pass\n")
    await import_course_dir(settings, course_dir)
    await claim(session_factory, first.id)
    stored = await record(session_factory, first.id, "w1", result("passed", 2))
    async with transaction(session_factory) as session:
        changed = await session.get(Assignment, adder.id)
        assert changed is not None
        revision = changed.revision
    assert stored is not None
    assert stored.assignment_revision == revision != adder.revision
    tests.write_text(original)
    await import_course_dir(settings, course_dir)
    async with transaction(session_factory) as session:
        back = await session.get(Assignment, adder.id)
        other = await create_anonymous_user(session)
    assert back is not None
    assert back.revision == adder.revision
    again, needs_grading = await submit(session_factory, other, back, code)
    assert (again.status, again.reused_from_id) == (SubmissionStatus.queued, None)
    assert needs_grading


async def test_proportional_and_all_or_nothing_scores_and_best_score_points(
    world, session_factory: Factory
) -> None:
    user, (adder, greeter) = world
    graded = []
    for assignment, code, run in [
        (adder, "a = 1\n", result("failed", 1)),  # proportional: 10 * 1/2
        (adder, "a = 2\n", result("failed", 0)),
        (greeter, "g = 1\n", result("failed", 0, total=1)),  # all-or-nothing
        (greeter, "g = 2\n", result("passed", 1, total=1)),
    ]:
        submission, _ = await submit(session_factory, user, assignment, code)
        await claim(session_factory, submission.id)
        stored = await record(session_factory, submission.id, "w1", run)
        assert stored is not None
        graded.append(stored.score)
    assert graded == [5.0, 0.0, 0.0, 20.0]
    async with session_factory() as session:
        assert await service.total_points(session, user_id=user.id) == 25.0
        assert await service.completed_assignment_ids(session, user_id=user.id) == {greeter.id}
        nxt = await service.next_assignment(
            session, user_id=user.id, scope=PracticeScope(frozenset())
        )
    assert nxt is not None
    assert nxt.id == adder.id


async def test_released_runs_are_queued_again(world, session_factory: Factory) -> None:
    user, (adder, _) = world
    submission, _ = await submit(session_factory, user, adder, "x = 1\n")
    await claim(session_factory, submission.id, "w1")
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        assert not await service.release_submission(
            session, outbox=outbox, submission_id=submission.id, owner="other", republish=True
        )
        assert await service.release_submission(
            session, outbox=outbox, submission_id=submission.id, owner="w1", republish=False
        )
        assert await service.submissions_to_publish(session) == [submission.id]
    assert await queued_jobs(outbox) == 0


async def test_a_run_released_with_republish_is_published_after_the_commit(
    world, session_factory: Factory
) -> None:
    user, (adder, _) = world
    submission, _ = await submit(session_factory, user, adder, "x = 1\n")
    await claim(session_factory, submission.id, "w1")
    outbox = memory_outbox(session_factory)
    async with transaction(session_factory) as session:
        assert await service.release_submission(
            session, outbox=outbox, submission_id=submission.id, owner="w1", republish=True
        )
        assert await queued_jobs(outbox) == 0  # not before the commit
    assert await queued_jobs(outbox) == 1


async def test_only_finished_submissions_can_be_deleted(world, session_factory: Factory) -> None:
    user, (adder, _) = world
    submission, _ = await submit(session_factory, user, adder, "x = 1\n")
    outbox = memory_outbox(session_factory)
    with pytest.raises(Conflict):
        async with transaction(session_factory) as session:
            await service.delete_submission(
                session, outbox=outbox, user_id=user.id, submission_id=submission.id
            )
    await claim(session_factory, submission.id)
    await record(session_factory, submission.id, "w1", result("failed", 0))
    async with transaction(session_factory) as session:
        await service.delete_submission(
            session, outbox=outbox, user_id=user.id, submission_id=submission.id
        )
    async with session_factory() as session:
        assert await session.get(Submission, submission.id) is None


async def test_a_submission_deleted_by_another_request_meanwhile_is_not_found_and_announced_once(
    world, session_factory: Factory
) -> None:
    user, (adder, _) = world
    submission, _ = await submit(session_factory, user, adder, "x = 1\n")
    await claim(session_factory, submission.id)
    await record(session_factory, submission.id, "w1", result("failed", 0))
    outbox = memory_outbox(session_factory)
    async with session_factory() as late:
        # This request has read the submission (held: the identity map keeps only weak
        # references); another deletes it and commits before this one deletes.
        read = await late.get(Submission, submission.id)
        assert read is not None
        async with transaction(session_factory) as first:
            await service.delete_submission(
                first, outbox=outbox, user_id=user.id, submission_id=submission.id
            )
        with pytest.raises(NotFound):
            await service.delete_submission(
                late, outbox=outbox, user_id=user.id, submission_id=submission.id
            )
        await late.rollback()
    async with session_factory() as session:
        deletions = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.type == service.SUBMISSION_DELETED_EVENT)
        )
    assert deletions == 1


def test_skipped_tests_count_neither_for_nor_against_a_score() -> None:
    result = RunResult(
        outcome="passed",
        tests=(
            TestResult("T.test_a", "passed", ""),
            TestResult("T.test_b", "skipped", "Skipped: later"),
            TestResult("T.test_c", "failed", "AssertionError"),
        ),
        message="",
        stdout="",
        stderr="",
        duration_ms=1,
    )

    assert compute_score(points=100, scoring=Scoring.proportional, result=result) == 50.0
