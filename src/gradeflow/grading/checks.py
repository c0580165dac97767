"""Checking authored assignments: saving queues a sandbox run of the reference solution.

A check is a job like a grading run (BRIEF section 3): the working copy's row is
claimed with a conditional update and a lease, its result stored only by the lease
owner of the generation it claimed, lost runs are found again by the sweeper, and a
duplicate message finds nothing to claim. A passing check publishes the working copy:
it becomes the assignment students see. Every change is an event for the course's
teachers (``CHECK_EVENT``), so the authoring page follows it live.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import partial
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import User
from gradeflow.courses import authoring
from gradeflow.courses.models import (
    Assignment,
    AssignmentDraft,
    CheckStatus,
    Course,
    CourseMember,
    MemberRole,
)
from gradeflow.courses.service import apply_content
from gradeflow.db import after_commit, transaction, utcnow
from gradeflow.errors import Unavailable
from gradeflow.events.service import record_event
from gradeflow.grading.messages import GRADING_QUEUE, PRIORITY_BULK, SolutionCheckJob
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.sandbox import RunResult

log = structlog.get_logger(__name__)

CHECK_EVENT = "assignment_check"


async def save_assignment(
    session: AsyncSession,
    *,
    outbox: Outbox,
    course: Course,
    user: User,
    changes: Mapping[str, Any],
    assignment: Assignment | None = None,
) -> authoring.Saved:
    """Create (no ``assignment``) or edit an assignment; check it after commit if needed."""
    if assignment is None:
        saved = await authoring.create_assignment(
            session, course=course, author=user, fields=changes
        )
    else:
        saved = await authoring.update_assignment(
            session, assignment=assignment, author=user, changes=changes
        )
    if saved.needs_check and saved.draft is not None:
        after_commit(session, partial(publish_checks, outbox, [saved.draft.id]))
    if saved.draft is not None:
        await _record_check_event(session, outbox, saved.assignment, saved.draft)
    return saved


async def _record_check_event(
    session: AsyncSession, outbox: Outbox, assignment: Assignment, draft: AssignmentDraft
) -> None:
    """The check's state, in the stream of each teacher of the course and its requester."""
    teachers = set(
        await session.scalars(
            select(CourseMember.user_id).where(
                CourseMember.course_id == assignment.course_id,
                CourseMember.role == MemberRole.teacher,
            )
        )
    )
    if draft.requested_by_id is not None:
        teachers.add(draft.requested_by_id)
    payload = {"assignment": authoring.describe_authored(assignment, draft)}
    for user_id in sorted(teachers):
        await record_event(session, user_id=user_id, type=CHECK_EVENT, payload=payload)
    outbox.announce_after_commit(session, teachers)


async def publish_checks(outbox: Outbox, draft_ids: list[int]) -> int:
    """Publish check jobs (bulk priority) and mark them published; never raises."""
    published: list[int] = []
    try:
        for draft_id in draft_ids:
            body = SolutionCheckJob(draft_id).encode()
            await outbox.queue.publish(GRADING_QUEUE, body, priority=PRIORITY_BULK)
            published.append(draft_id)
    except Unavailable:
        log.warning("checks.publish_deferred", pending=len(draft_ids) - len(published))
    if published:
        try:
            async with transaction(outbox.session_factory) as session:
                await session.execute(
                    update(AssignmentDraft)
                    .where(AssignmentDraft.id.in_(published))
                    .values(job_published_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            # Unmarked rows are only published once more by the sweeper: harmless.
            log.exception("checks.mark_published_failed")
    return len(published)


async def _load(session: AsyncSession, draft_id: int) -> AssignmentDraft | None:
    draft: AssignmentDraft | None = await session.scalar(
        select(AssignmentDraft)
        .where(AssignmentDraft.id == draft_id)
        .execution_options(populate_existing=True)
    )
    return draft


async def _announce(session: AsyncSession, outbox: Outbox, draft_id: int) -> AssignmentDraft:
    draft = await _load(session, draft_id)
    assert draft is not None
    assignment = await session.get_one(Assignment, draft.assignment_id)
    await _record_check_event(session, outbox, assignment, draft)
    return draft


def _claimable(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        AssignmentDraft.check_status == CheckStatus.queued,
        (AssignmentDraft.check_status == CheckStatus.running)
        & (AssignmentDraft.lease_expires_at < now),
    )


async def claim_check(
    session: AsyncSession,
    *,
    outbox: Outbox,
    draft_id: int,
    owner: str,
    max_attempts: int,
    lease_margin_s: float,
    now: dt.datetime | None = None,
) -> AssignmentDraft | None:
    """Take the lease on a queued (or abandoned) check, or return None.

    None means someone else holds it, it is finished, or it is gone; a check out of
    attempts is ended as ``error`` here instead.
    """
    now = now or utcnow()
    draft = await _load(session, draft_id)
    if draft is None:
        return None
    seconds = float(draft.content["time_limit_s"]) + lease_margin_s
    # The generation read above: the lease is for exactly the files about to be run.
    same_files = AssignmentDraft.generation == draft.generation
    claimed = await session.execute(
        update(AssignmentDraft)
        .where(
            AssignmentDraft.id == draft_id,
            _claimable(now),
            same_files,
            AssignmentDraft.attempts < max_attempts,
        )
        .values(
            check_status=CheckStatus.running,
            lease_owner=owner,
            lease_expires_at=now + dt.timedelta(seconds=seconds),
            attempts=AssignmentDraft.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) == 1:
        return await _announce(session, outbox, draft_id)
    exhausted = await session.execute(
        update(AssignmentDraft)
        .where(
            AssignmentDraft.id == draft_id,
            _claimable(now),
            AssignmentDraft.attempts >= max_attempts,
        )
        .values(
            check_status=CheckStatus.error,
            lease_owner=None,
            lease_expires_at=None,
            checked_at=now,
            check_result={
                "outcome": "internal_error",
                "message": f"The check failed on our side {max_attempts} times; "
                "save the assignment again to retry.",
                "tests": [],
            },
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(exhausted, "rowcount", 0) == 1:
        await _announce(session, outbox, draft_id)
    return None


def _leased_by(draft_id: int, owner: str) -> ColumnElement[bool]:
    return and_(
        AssignmentDraft.id == draft_id,
        AssignmentDraft.check_status == CheckStatus.running,
        AssignmentDraft.lease_owner == owner,
    )


async def record_check(
    session: AsyncSession,
    *,
    outbox: Outbox,
    draft_id: int,
    owner: str,
    generation: int,
    result: RunResult,
) -> AssignmentDraft | None:
    """Store the check's result if ``owner`` still holds ``generation``; a pass publishes.

    The working copy that goes live is the one stored now: edits since the claim that
    did not touch the checked files (the generation is unchanged) go live with it.
    """
    passed = result.outcome == "passed"
    stored = await session.execute(
        update(AssignmentDraft)
        .where(_leased_by(draft_id, owner), AssignmentDraft.generation == generation)
        .values(
            check_status=CheckStatus.passed if passed else CheckStatus.failed,
            check_result=result.to_dict(),
            checked_at=utcnow(),
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(stored, "rowcount", 0) != 1:
        return None
    draft = await _load(session, draft_id)
    assert draft is not None
    if passed:
        assignment = await session.get_one(Assignment, draft.assignment_id)
        apply_content(assignment, draft.content)
        assignment.published = True
        await session.flush()
    return await _announce(session, outbox, draft_id)


async def release_check(
    session: AsyncSession, *, outbox: Outbox, draft_id: int, owner: str, republish: bool
) -> bool:
    """Give an unfinished check back to the queue; False when ``owner`` lost its lease."""
    released = await session.execute(
        update(AssignmentDraft)
        .where(_leased_by(draft_id, owner))
        .values(
            check_status=CheckStatus.queued,
            lease_owner=None,
            lease_expires_at=None,
            job_published_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(released, "rowcount", 0) != 1:
        return False
    if republish:
        after_commit(session, partial(publish_checks, outbox, [draft_id]))
    await _announce(session, outbox, draft_id)
    return True


async def renew_check_lease(
    session: AsyncSession, *, draft_id: int, owner: str, seconds: float
) -> bool:
    renewed = await session.execute(
        update(AssignmentDraft)
        .where(_leased_by(draft_id, owner))
        .values(lease_expires_at=utcnow() + dt.timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return getattr(renewed, "rowcount", 0) == 1


async def requeue_abandoned_checks(session: AsyncSession) -> list[int]:
    """Embedded mode at start-up: every running check died with the previous process.

    Returns every check waiting to run, to be published once.
    """
    await session.execute(
        update(AssignmentDraft)
        .where(AssignmentDraft.check_status == CheckStatus.running)
        .values(check_status=CheckStatus.queued, lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    query = select(AssignmentDraft.id).where(AssignmentDraft.check_status == CheckStatus.queued)
    return list(await session.scalars(query.order_by(AssignmentDraft.id)))


async def lost_checks(
    session: AsyncSession, *, unpublished_for: dt.timedelta, limit: int = 1000
) -> list[int]:
    """Checks whose runner died (lease expired) or whose message never reached the queue."""
    now = utcnow()
    expired = (AssignmentDraft.check_status == CheckStatus.running) & (
        AssignmentDraft.lease_expires_at < now
    )
    unpublished = (
        (AssignmentDraft.check_status == CheckStatus.queued)
        & AssignmentDraft.job_published_at.is_(None)
        & (AssignmentDraft.requested_at < now - unpublished_for)
    )
    query = select(AssignmentDraft.id).where(or_(expired, unpublished))
    return list(await session.scalars(query.order_by(AssignmentDraft.id).limit(limit)))
