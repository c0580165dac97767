"""Submitting code, claiming and recording grading runs, and reading progress.

State changes are conditional updates so that two workers, a duplicated message or
a late result can never both win (BRIEF section 3). Every change that a student
should see live also records an event in the same transaction, and registers with
the ``Outbox`` what must follow its commit (a grading job, an announcement).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gradeflow.accounts.models import User
from gradeflow.courses.members import PracticeScope
from gradeflow.courses.models import Assignment
from gradeflow.courses.service import list_assignments
from gradeflow.db import dialect_insert, utcnow
from gradeflow.errors import Conflict, NotFound
from gradeflow.events.models import Event
from gradeflow.grading.messages import PRIORITY_BULK, PRIORITY_INTERACTIVE, grading_priority
from gradeflow.grading.models import RegradeKind, Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.regrades import open_regrade
from gradeflow.grading.verdicts import (
    FINAL_STATUSES,
    PENDING_STATUSES,
    SubmissionStatus,
    validate_code,
)

SUBMISSION_EVENT = "submission"
SUBMISSION_DELETED_EVENT = "submission_deleted"


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


# Graded results identical code may take instead of a run of its own.
REUSABLE_STATUSES = (SubmissionStatus.passed, SubmissionStatus.failed)


def reusable_result(submission: Submission) -> bool:
    """Whether identical code may take this graded result. Not a timeout: a run that
    ran out of time on a loaded machine would be every later submitter's for the
    revision, while a run of their own may finish."""
    feedback = submission.feedback or {}
    return submission.status in REUSABLE_STATUSES and feedback.get("outcome") != "timeout"


def describe_submission(submission: Submission) -> dict[str, Any]:
    """The public view of a submission, used by the API and by live events."""
    return {
        "id": submission.id,
        "assignment_id": submission.assignment_id,
        "status": submission.status.value,
        "score": submission.score,
        "feedback": submission.feedback,
        "attempts": submission.attempts,
        "reused": submission.reused_from_id is not None,
        "created_at": submission.created_at.isoformat(),
        "finished_at": submission.finished_at.isoformat() if submission.finished_at else None,
    }


async def record_submission_event(
    session: AsyncSession, outbox: Outbox, submission: Submission
) -> None:
    """Every change to a submission: an event in the user's stream, announced after commit."""
    await add_submission_event(session, submission)
    await session.flush()
    outbox.announce_after_commit(session, [submission.user_id])


async def add_submission_event(
    session: AsyncSession, submission: Submission, *, points: float | None = None
) -> None:
    """The event of a change to ``submission``, added to ``session`` (flushed with the
    next flush: many events, one insert). A final one carries the student's total
    ``points``, read here unless given."""
    if submission.status.is_final and points is None:
        points = await total_points(session, user_id=submission.user_id)
    payload = submission_event_payload(submission, points=points)
    session.add(Event(user_id=submission.user_id, type=SUBMISSION_EVENT, payload=payload))


def submission_event_payload(submission: Submission, *, points: float | None) -> dict[str, Any]:
    """A submission event's payload: its public view and, once final, the student's
    total ``points`` (the one shape of every writer of these events)."""
    payload: dict[str, Any] = {"submission": describe_submission(submission)}
    if submission.status.is_final:
        payload["points"] = points
    return payload


async def pending_submission_id(session: AsyncSession, *, user_id: int) -> int | None:
    query = select(Submission.id).where(
        Submission.user_id == user_id,
        Submission.status.in_(PENDING_STATUSES),
        Submission.regrading.is_(False),
    )
    return await session.scalar(query)


@dataclass(frozen=True)
class SubmitRequest:
    """One student's submit, checked already: valid code, an assignment theirs to submit to."""

    user_id: int
    assignment_id: int
    assignment_revision: str
    code: str


ONE_PENDING = "You already have a submission being graded; wait for its result."


async def submit_code(
    session: AsyncSession,
    *,
    outbox: Outbox,
    user: User,
    assignment: Assignment,
    code: str,
    max_code_bytes: int,
) -> Submission:
    """Store a submission and queue it for grading once the session commits.

    Identical code for the same revision of the assignment reuses the earlier
    result instead of grading again.
    """
    validate_code(code, max_bytes=max_code_bytes)
    request = SubmitRequest(user.id, assignment.id, assignment.revision, code)
    [outcome] = await submit_group(session, outbox=outbox, requests=[request])
    if isinstance(outcome, Conflict):
        raise outcome
    return outcome


async def submit_group(
    session: AsyncSession,
    *,
    outbox: Outbox,
    requests: Sequence[SubmitRequest],
    on_published: Callable[[], None] | None = None,
) -> list[Submission | Conflict]:
    """Store many submits in one unit of work, each as if alone: its submission, or a
    Conflict for a student who has one pending already. A student at most once.
    ``on_published`` is called after the commit once their jobs are published (or
    left to the sweeper), if any job is to be.

    A fixed number of statements however many there are: one read of their
    assignments' revisions, one of the results they may reuse, one insert of the
    submissions (the one-pending index turns a second pending submission into a row
    not inserted, not an error) and one of their events.
    """
    if len({r.user_id for r in requests}) != len(requests):
        raise ValueError("a group holds each student at most once")
    digests = [code_hash(r.code) for r in requests]
    # The revision each submission is stamped with and may reuse a result of is the
    # assignment's own, read in this unit of work: the request's comes from a cached
    # read (``SubmissionIntake``'s callers), which may predate a change of the tests,
    # and identical code would then be given the result of the tests before it.
    revision_rows = await session.execute(
        select(Assignment.id, Assignment.revision).where(
            Assignment.id.in_({r.assignment_id for r in requests})
        )
    )
    current = {assignment_id: revision for assignment_id, revision in revision_rows}
    revisions = [current.get(r.assignment_id, r.assignment_revision) for r in requests]
    keys = {
        (r.assignment_id, d, revision)
        for r, d, revision in zip(requests, digests, revisions, strict=True)
    }
    reusable: dict[tuple[int, str, str], Submission] = {}
    # By (assignment, code hash): the reuse index. The revision is matched here; asked
    # of the database too, SQLite's planner scans every graded row instead.
    earlier = await session.scalars(
        select(Submission)
        .where(
            Submission.assignment_id.in_({r.assignment_id for r in requests}),
            Submission.code_hash.in_(set(digests)),
            Submission.status.in_(REUSABLE_STATUSES),
        )
        .order_by(Submission.id.desc())
    )
    for row in earlier:
        key = (row.assignment_id, row.code_hash, row.assignment_revision)
        if key in keys and reusable_result(row):
            reusable.setdefault(key, row)
    now = utcnow()
    rows = []
    for request, digest, revision in zip(requests, digests, revisions, strict=True):
        reused = reusable.get((request.assignment_id, digest, revision))
        rows.append(
            {
                "user_id": request.user_id,
                "assignment_id": request.assignment_id,
                "code": request.code,
                "code_hash": digest,
                "assignment_revision": revision,
                "status": reused.status if reused else SubmissionStatus.queued,
                "score": reused.score if reused else None,
                "feedback": reused.feedback if reused else None,
                "reused_from_id": reused.id if reused else None,
                "attempts": 0,
                "created_at": now,
                "queued_at": now,
                "started_at": now if reused else None,
                "finished_at": now if reused else None,
            }
        )
    # The rows as parameter sets of one statement: compiled once and sent in batches
    # ("insertmanyvalues"), where a VALUES list of N rows was a new statement to build
    # and compile for each group size (most of a group's CPU, PERFORMANCE.md).
    insert = dialect_insert(session)(Submission).on_conflict_do_nothing().returning(Submission)
    inserted = {s.user_id: s for s in await session.scalars(insert, rows)}
    refused = [r.user_id for r in requests if r.user_id not in inserted]
    pending: dict[int, int] = {}
    if refused:
        found = await session.execute(
            select(Submission.user_id, Submission.id).where(
                Submission.user_id.in_(refused),
                Submission.status.in_(PENDING_STATUSES),
                Submission.regrading.is_(False),
            )
        )
        pending = {user_id: submission_id for user_id, submission_id in found}
    submissions = list(inserted.values())
    for submission in submissions:
        await add_submission_event(session, submission)
    await session.flush()
    queued = [s.id for s in submissions if s.status is SubmissionStatus.queued]
    outbox.grade_after_commit(
        session, queued, priority=PRIORITY_INTERACTIVE, on_confirmed=on_published
    )
    outbox.announce_after_commit(session, inserted)
    return [
        inserted.get(r.user_id)
        or Conflict(ONE_PENDING, details={"submission_id": pending.get(r.user_id)})
        for r in requests
    ]


def _leased_by(submission_id: int, owner: str) -> ColumnElement[bool]:
    """The submission is running under ``owner``'s lease (the guard of every run update)."""
    return and_(
        Submission.id == submission_id,
        Submission.status == SubmissionStatus.running,
        Submission.lease_owner == owner,
    )


async def _load(session: AsyncSession, submission_id: int) -> Submission:
    submission = await session.scalar(
        select(Submission)
        .options(joinedload(Submission.assignment))
        .where(Submission.id == submission_id)
        .execution_options(populate_existing=True)
    )
    assert submission is not None
    return submission


async def release_submission(
    session: AsyncSession, *, outbox: Outbox, submission_id: int, owner: str, republish: bool
) -> bool:
    """Give an unfinished run back to the queue (shutdown, or our own failure).

    With ``republish`` its job is published again after the commit (the message that
    brought it is acknowledged), at the tail of the queue: it is queued anew. Without,
    the caller hands its message back instead, which the broker puts back in its old
    place (so does ``MemoryQueue``): the row keeps its ``queued_at``, and its
    ``published_at``, so the sweeper does not send a second job to the tail.
    False when ``owner`` no longer held the lease.
    """
    requeued: dict[str, object] = {"published_at": None, "queued_at": utcnow()} if republish else {}
    released = await session.execute(
        update(Submission)
        .where(_leased_by(submission_id, owner))
        .values(status=SubmissionStatus.queued, lease_owner=None, lease_expires_at=None, **requeued)
        .execution_options(synchronize_session=False)
    )
    if getattr(released, "rowcount", 0) != 1:
        return False
    submission = await _load(session, submission_id)
    if republish:
        priority = grading_priority(regrading=submission.regrading)
        outbox.grade_after_commit(session, [submission_id], priority=priority)
    await record_submission_event(session, outbox, submission)
    return True


async def by_priority(
    session: AsyncSession, submission_ids: Collection[int]
) -> dict[int, list[int]]:
    """The ids by the priority their jobs are published at (``grading_priority``), so
    a backlog published again stays behind new submits."""
    if not submission_ids:
        return {}
    bulk = set(
        await session.scalars(
            select(Submission.id).where(
                Submission.id.in_(submission_ids), Submission.regrading.is_(True)
            )
        )
    )
    groups: dict[int, list[int]] = {}
    for submission_id in submission_ids:
        priority = grading_priority(regrading=submission_id in bulk)
        groups.setdefault(priority, []).append(submission_id)
    return groups


async def requeue_abandoned(session: AsyncSession) -> int:
    """Embedded mode at start-up: this process is the only grader, so every
    ``running`` row belongs to a run that died with the previous process."""
    result = await session.execute(
        update(Submission)
        .where(Submission.status == SubmissionStatus.running)
        .values(status=SubmissionStatus.queued, lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def submissions_to_publish(session: AsyncSession, *, limit: int = 10_000) -> list[int]:
    """Every queued row and every expired lease: the work to (re)publish at start-up,
    in the order it was queued, so the new queue serves it as the old one would have."""
    now = utcnow()
    expired = (Submission.status == SubmissionStatus.running) & (Submission.lease_expires_at < now)
    query = (
        select(Submission.id)
        .where(or_(Submission.status == SubmissionStatus.queued, expired))
        .order_by(Submission.queued_at, Submission.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def expired_leases(session: AsyncSession, *, limit: int = 1000) -> list[int]:
    """Runs whose grader died: the lease ran out before a result was stored."""
    query = (
        select(Submission.id)
        .where(
            Submission.status == SubmissionStatus.running, Submission.lease_expires_at < utcnow()
        )
        .order_by(Submission.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def unpublished_submissions(
    session: AsyncSession, *, older_than: dt.timedelta, limit: int = 1000
) -> list[int]:
    """Queued rows whose job message never reached the queue (the broker was down),
    queued anew: their job is about to join the queue at its tail."""
    now = utcnow()
    query = (
        select(Submission.id)
        .where(
            Submission.status == SubmissionStatus.queued,
            Submission.published_at.is_(None),
            Submission.queued_at < now - older_than,
        )
        .order_by(Submission.queued_at, Submission.id)
        .limit(limit)
    )
    ids = list(await session.scalars(query))
    if ids:
        await session.execute(
            update(Submission)
            .where(Submission.id.in_(ids), Submission.published_at.is_(None))
            .values(queued_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids


async def regrade_assignment(
    session: AsyncSession, *, outbox: Outbox, assignment: Assignment, started_by: User | None = None
) -> list[int]:
    """Queue every graded submission of ``assignment`` again under a new generation.

    Conflict while another regrade or a regrade preview of it is active.
    """
    regrade = await open_regrade(
        session, assignment=assignment, kind=RegradeKind.direct, started_by=started_by
    )
    ids = list(
        await session.scalars(
            select(Submission.id)
            .where(
                Submission.assignment_id == assignment.id,
                Submission.status.in_(FINAL_STATUSES),
            )
            .order_by(Submission.id)
        )
    )
    regrade.total = len(ids)
    if not ids:
        return []
    await session.execute(
        update(Submission)
        .where(Submission.id.in_(ids), Submission.status.in_(FINAL_STATUSES))
        .values(
            status=SubmissionStatus.queued,
            regrading=True,
            generation=Submission.generation + 1,
            attempts=0,
            lease_owner=None,
            lease_expires_at=None,
            published_at=None,
            queued_at=utcnow(),
            assignment_revision=assignment.revision,
            reused_from_id=None,
        )
        .execution_options(synchronize_session=False)
    )
    outbox.grade_after_commit(session, ids, priority=PRIORITY_BULK)
    for submission_id in ids:
        await record_submission_event(session, outbox, await _load(session, submission_id))
    return ids


async def regrade_progress(session: AsyncSession, *, assignment_id: int) -> dict[str, int]:
    """How many submissions of the assignment are still waiting for or in a regrade."""
    rows = await session.execute(
        select(Submission.status, func.count())
        .where(Submission.assignment_id == assignment_id, Submission.regrading.is_(True))
        .group_by(Submission.status)
    )
    counts = {status.value: int(count) for status, count in rows.all()}
    queued, running = counts.get("queued", 0), counts.get("running", 0)
    return {"queued": queued, "running": running, "remaining": queued + running}


# A student's progress is read at every first look of theirs: the statements are
# built once, each read only binds the user (building them cost more than running them).
@cache
def _total_points_query() -> Select[float]:
    best = (
        select(func.max(Submission.score).label("best"))
        .where(Submission.user_id == bindparam("user_id"), Submission.status.in_(FINAL_STATUSES))
        .group_by(Submission.assignment_id)
        .subquery()
    )
    return select(func.coalesce(func.sum(best.c.best), 0.0))


@cache
def _completed_query() -> Select[int]:
    return (
        select(Submission.assignment_id)
        .where(
            Submission.user_id == bindparam("user_id"),
            Submission.status == SubmissionStatus.passed,
        )
        .distinct()
    )


async def total_points(session: AsyncSession, *, user_id: int) -> float:
    """Sum over assignments of the user's best score."""
    value = await session.scalar(_total_points_query(), {"user_id": user_id})
    return round(float(value or 0.0), 2)


async def points_of(session: AsyncSession, *, user_ids: Collection[int]) -> dict[int, float]:
    """``total_points`` of many students in one read."""
    rows = await session.execute(_points_of_query(), {"user_ids": list(user_ids)})
    points = {int(user_id): round(float(value or 0.0), 2) for user_id, value in rows}
    return {user_id: points.get(user_id, 0.0) for user_id in user_ids}


@cache
def _points_of_query() -> Select[int, float]:
    # Built once: a grader reads the points of every group it records.
    best = (
        select(Submission.user_id.label("user_id"), func.max(Submission.score).label("best"))
        .where(
            Submission.user_id.in_(bindparam("user_ids", expanding=True)),
            Submission.status.in_(FINAL_STATUSES),
        )
        .group_by(Submission.user_id, Submission.assignment_id)
        .subquery()
    )
    return select(best.c.user_id, func.coalesce(func.sum(best.c.best), 0.0)).group_by(
        best.c.user_id
    )


@cache
def _best_scores_query() -> Select[int, float | None]:
    return (
        select(Submission.assignment_id, func.max(Submission.score))
        .where(Submission.user_id == bindparam("user_id"), Submission.status.in_(FINAL_STATUSES))
        .group_by(Submission.assignment_id)
    )


async def best_scores(session: AsyncSession, *, user_id: int) -> dict[int, float]:
    """The user's best score of each assignment they have a graded submission of."""
    rows = await session.execute(_best_scores_query(), {"user_id": user_id})
    return {assignment_id: float(score) for assignment_id, score in rows if score is not None}


async def completed_assignment_ids(session: AsyncSession, *, user_id: int) -> set[int]:
    return set(await session.scalars(_completed_query(), {"user_id": user_id}))


async def next_assignment(
    session: AsyncSession, *, user_id: int, scope: PracticeScope, course_id: int | None = None
) -> Assignment | None:
    """The first assignment the user may practise, in order, not passed yet."""
    done = await completed_assignment_ids(session, user_id=user_id)
    for assignment in await list_assignments(session, scope=scope, course_id=course_id):
        if assignment.id not in done:
            return assignment
    return None


async def list_submissions(
    session: AsyncSession, *, user_id: int, assignment_id: int | None = None, limit: int = 100
) -> list[Submission]:
    query = (
        select(Submission)
        .where(Submission.user_id == user_id)
        .order_by(Submission.id.desc())
        .limit(limit)
    )
    if assignment_id is not None:
        query = query.where(Submission.assignment_id == assignment_id)
    return list(await session.scalars(query))


async def get_submission(session: AsyncSession, *, user_id: int, submission_id: int) -> Submission:
    submission = await session.get(Submission, submission_id)
    if submission is None or submission.user_id != user_id:
        raise NotFound("No such submission.")
    return submission


async def delete_submission(
    session: AsyncSession, *, outbox: Outbox, user_id: int, submission_id: int
) -> None:
    submission = await get_submission(session, user_id=user_id, submission_id=submission_id)
    if not submission.status.is_final:
        raise Conflict("A submission can be deleted once it has been graded.")
    # Later submissions that reused this result keep their copy of it.
    await session.execute(
        update(Submission)
        .where(Submission.reused_from_id == submission_id)
        .values(reused_from_id=None)
        .execution_options(synchronize_session=False)
    )
    # Conditional, not the ORM's delete of what was read: of requests deleting it at once
    # (each having read it), exactly one deletes the row and announces it. The event
    # below purges the student's cached reads.
    deleted = await session.execute(
        delete(Submission)
        .where(Submission.id == submission_id, Submission.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    if getattr(deleted, "rowcount", 0) != 1:
        raise NotFound("No such submission.")
    session.expunge(submission)
    # The student's other tabs drop it from their lists, and their points follow.
    payload = {
        "submission_id": submission_id,
        "points": await total_points(session, user_id=user_id),
    }
    session.add(Event(user_id=user_id, type=SUBMISSION_DELETED_EVENT, payload=payload))
    await session.flush()
    outbox.announce_after_commit(session, [user_id])
