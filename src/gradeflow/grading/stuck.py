"""Stuck submissions: those that ended for our reasons, or wait or run too long, and
their re-run.

A submission is stuck when it is not the student's doing that it has no result:

- ``error``: the sandbox failed on every attempt, or every grader that took it died
  (``runs.OUT_OF_ATTEMPTS``); student-code problems end ``failed``, never ``error``;
- ``queued`` longer than the threshold since its job was last handed to the queue
  (``published_at``; ``created_at`` while it never was): a lost message, a broker
  that was down, or no grader running;
- ``running`` longer than the threshold since it was claimed: a grader or a
  sandbox hung while its lease is still renewed.

A re-run grades the same row again: no new submission, its attempts start again
from zero, and its score counts only once it has one, so it costs the student no
attempt or points. It keeps the submission rules: it takes the student's one pending
place (unless it is part of a regrade, as before), and identical code already graded
for today's revision of the assignment reuses that result instead of running again.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gradeflow.accounts.models import User
from gradeflow.courses.members import taught_course
from gradeflow.courses.models import Assignment
from gradeflow.db import utcnow
from gradeflow.errors import Conflict, NotFound
from gradeflow.grading.messages import PRIORITY_INTERACTIVE
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.service import (
    REUSABLE_STATUSES,
    pending_submission_id,
    record_submission_event,
    reusable_result,
)
from gradeflow.grading.verdicts import SubmissionStatus

# A page is a teacher's or operator's list to act on, not a report: bounded.
STUCK_LIST_LIMIT = 500


class StuckReason(enum.StrEnum):
    error = "error"  # ended for an infrastructure reason
    queued_too_long = "queued_too_long"
    running_too_long = "running_too_long"


@dataclass(frozen=True)
class StuckSubmission:
    """A stuck submission with its student, assignment and course loaded."""

    submission: Submission
    reason: StuckReason
    since: dt.datetime  # when it ended, was queued, or was claimed

    @property
    def message(self) -> str:
        """What went wrong, in words for a teacher."""
        if self.reason is StuckReason.error:
            feedback = self.submission.feedback or {}
            return str(feedback.get("message") or "Grading failed on our side.")
        if self.reason is StuckReason.queued_too_long:
            return "Waiting for a grader longer than it should."
        return "Being graded longer than it should."


def describe_stuck(item: StuckSubmission) -> dict[str, Any]:
    """The public view of a stuck submission, for the API and the pages."""
    submission = item.submission
    assignment = submission.assignment
    return {
        "id": submission.id,
        "user_id": submission.user_id,
        "student": submission.user.email or f"Guest #{submission.user_id}",
        "course_id": assignment.course_id,
        "course_title": assignment.course.title,
        "assignment_id": assignment.id,
        "assignment_title": assignment.title,
        "status": submission.status.value,
        "reason": item.reason.value,
        "message": item.message,
        "since": item.since.isoformat(),
        "attempts": submission.attempts,
        "regrading": submission.regrading,
    }


def _queued_since() -> ColumnElement[dt.datetime]:
    """When a queued row's job last went to the queue (a regrade or a release
    publishes it again), or when it was made if its job never reached the queue."""
    return func.coalesce(Submission.published_at, Submission.created_at)


def _stuck_condition(before: dt.datetime) -> ColumnElement[bool]:
    return or_(
        Submission.status == SubmissionStatus.error,
        and_(Submission.status == SubmissionStatus.queued, _queued_since() < before),
        and_(Submission.status == SubmissionStatus.running, Submission.started_at < before),
    )


def classify(
    submission: Submission, *, stuck_after: dt.timedelta, now: dt.datetime
) -> StuckSubmission | None:
    """The submission as a stuck one, or None when it is fine (graded by the student's
    own code, or still within the threshold)."""
    status = submission.status
    if status is SubmissionStatus.error:
        return StuckSubmission(
            submission, StuckReason.error, submission.finished_at or submission.created_at
        )
    if status is SubmissionStatus.queued:
        since = submission.published_at or submission.created_at
        reason = StuckReason.queued_too_long
    elif status is SubmissionStatus.running:
        since = submission.started_at or submission.created_at
        reason = StuckReason.running_too_long
    else:
        return None
    return StuckSubmission(submission, reason, since) if since < now - stuck_after else None


async def list_stuck(
    session: AsyncSession,
    *,
    stuck_after: dt.timedelta,
    course_id: int | None = None,
    now: dt.datetime | None = None,
) -> list[StuckSubmission]:
    """The stuck submissions of one course (every course when None), oldest first."""
    now = now or utcnow()
    query = (
        select(Submission)
        .options(
            joinedload(Submission.user),
            joinedload(Submission.assignment).joinedload(Assignment.course),
        )
        .where(_stuck_condition(now - stuck_after))
        .order_by(Submission.id)
        .limit(STUCK_LIST_LIMIT)
    )
    if course_id is not None:
        query = query.join(Assignment, Submission.assignment_id == Assignment.id).where(
            Assignment.course_id == course_id
        )
    found: Sequence[Submission] = (await session.scalars(query)).unique().all()
    listed = (classify(s, stuck_after=stuck_after, now=now) for s in found)
    return [s for s in listed if s is not None]


async def _taught_submission(
    session: AsyncSession, *, submission_id: int, user: User
) -> Submission:
    """The submission if ``user`` teaches its course (or is an admin): 404 when they
    may not see the course, 403 when they see it but do not teach it."""
    submission = await session.scalar(
        select(Submission)
        .options(joinedload(Submission.assignment))
        .where(Submission.id == submission_id)
    )
    if submission is None:
        raise NotFound("No such submission.")
    try:
        await taught_course(session, course_id=submission.assignment.course_id, user=user)
    except NotFound as exc:
        raise NotFound("No such submission.") from exc
    return submission


def _not_stuck(submission: Submission, *, stuck_after: dt.timedelta, now: dt.datetime) -> Conflict:
    if submission.status.is_final:
        return Conflict(
            f"Submission {submission.id} was graded ({submission.status.value}); "
            "only one that failed on our side or is stuck can be re-run.",
            details={"submission_id": submission.id, "status": submission.status.value},
        )
    since = submission.started_at if submission.status is SubmissionStatus.running else None
    since = since or submission.published_at or submission.created_at
    waited = max(0, int((now - since).total_seconds()))
    return Conflict(
        f"Submission {submission.id} has been {submission.status.value} for {waited} s, "
        f"within the {int(stuck_after.total_seconds())} s it may take; it is not stuck. "
        "Re-run it if it is still waiting after that.",
        details={"submission_id": submission.id, "status": submission.status.value},
    )


def _other_pending(submission_id: int, other: int | None) -> Conflict:
    """The one-pending rule holds for a re-run too: the student's own work goes first."""
    return Conflict(
        f"The student has another submission being graded (#{other}); "
        f"re-run {submission_id} once that one has its result.",
        details={"submission_id": other},
    )


# Identical graded submissions looked at for one to reuse (the newest first): copies of
# one timed-out result are skipped, and more than this many of them is a run of its own.
REUSE_CANDIDATES = 20


async def _reusable_result(session: AsyncSession, submission: Submission) -> Submission | None:
    """A graded submission with the same code for today's revision (the reuse rule)."""
    assignment = submission.assignment
    candidates = await session.scalars(
        select(Submission)
        .where(
            Submission.assignment_id == assignment.id,
            Submission.code_hash == submission.code_hash,
            Submission.assignment_revision == assignment.revision,
            Submission.status.in_(REUSABLE_STATUSES),
            Submission.id != submission.id,
        )
        .order_by(Submission.id.desc())
        .limit(REUSE_CANDIDATES)
    )
    return next((row for row in candidates if reusable_result(row)), None)


async def rerun_submission(
    session: AsyncSession,
    *,
    outbox: Outbox,
    submission_id: int,
    user: User,
    stuck_after: dt.timedelta,
    now: dt.datetime | None = None,
) -> Submission:
    """Grade a stuck submission again, in place, for its course's teacher or an admin.

    Conflict when it is not stuck (graded, or pending within the threshold), when it
    would be the student's second pending submission, or when it changed meanwhile.
    """
    now = now or utcnow()
    submission = await _taught_submission(session, submission_id=submission_id, user=user)
    if classify(submission, stuck_after=stuck_after, now=now) is None:
        raise _not_stuck(submission, stuck_after=stuck_after, now=now)
    reused = await _reusable_result(session, submission)
    # Queued again, an ended row takes the student's one pending place (a regrade's
    # rows never held it); one given a reused result at once does not.
    if reused is None and submission.status.is_final and not submission.regrading:
        other = await pending_submission_id(session, user_id=submission.user_id)
        if other is not None:
            raise _other_pending(submission.id, other)
    values: dict[str, object] = {
        "generation": Submission.generation + 1,
        "attempts": 0,
        "lease_owner": None,
        "lease_expires_at": None,
        "assignment_revision": submission.assignment.revision,
    }
    if reused is not None:
        values |= {
            "status": reused.status,
            "score": reused.score,
            "feedback": reused.feedback,
            "reused_from_id": reused.id,
            "regrading": False,
            "started_at": now,
            "finished_at": now,
        }
    else:
        values |= {
            "status": SubmissionStatus.queued,
            "score": None,
            "feedback": None,
            "reused_from_id": None,
            "published_at": None,
            "queued_at": utcnow(),
            "started_at": None,
            "finished_at": None,
        }
    # Only the row as it was read: a grader that stored a result meanwhile wins.
    unchanged = and_(
        Submission.id == submission.id,
        Submission.status == submission.status,
        Submission.generation == submission.generation,
    )
    try:
        async with session.begin_nested():
            changed = await session.execute(
                update(Submission)
                .where(unchanged)
                .values(values)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError as exc:
        # The student submitted between the check above and this update.
        other = await pending_submission_id(session, user_id=submission.user_id)
        raise _other_pending(submission.id, other) from exc
    if getattr(changed, "rowcount", 0) != 1:
        raise Conflict(
            f"Submission {submission.id} changed meanwhile; reload and look again.",
            details={"submission_id": submission.id},
        )
    await session.refresh(submission)
    if submission.status is SubmissionStatus.queued:
        outbox.grade_after_commit(session, [submission.id], priority=PRIORITY_INTERACTIVE)
    await record_submission_event(session, outbox, submission)
    return submission
