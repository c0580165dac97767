"""Regrade previews: grade every graded submission of an assignment again, beside it.

Scores do not change while a preview runs (its results are graded in
``preview_runs``). Once it is ``ready`` a teacher of the course applies it with a
policy, in one transaction, or discards it; either happens at most once.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import User
from gradeflow.courses.models import Assignment
from gradeflow.db import utcnow
from gradeflow.errors import Conflict, NotFound
from gradeflow.grading.deltas import Policy, preview_deltas, takes_new_result, test_outcomes
from gradeflow.grading.models import PreviewResult, Regrade, RegradeKind, RegradeStatus, Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.preview_runs import (
    announce_preview,
    chunks,
    describe_preview,
    preview_jobs_after_commit,
    preview_progress,
)
from gradeflow.grading.regrades import open_regrade
from gradeflow.grading.service import record_submission_event
from gradeflow.grading.verdicts import FINAL_STATUSES, SubmissionStatus

log = structlog.get_logger(__name__)


async def start_preview(
    session: AsyncSession, *, outbox: Outbox, assignment: Assignment, teacher: User | None
) -> Regrade:
    """Open a preview of ``assignment`` and queue each graded submission for it.

    Every graded submission is previewed, not only those graded against an older
    revision: one graded against today's tests comes out the same, so the only
    cost is a run. Conflict while another regrade or preview of it is active.
    """
    preview = await open_regrade(
        session, assignment=assignment, kind=RegradeKind.preview, started_by=teacher
    )
    graded = await session.execute(
        select(Submission.id, Submission.score, Submission.feedback)
        .where(Submission.assignment_id == assignment.id, Submission.status.in_(FINAL_STATUSES))
        .order_by(Submission.id)
    )
    now = utcnow()
    rows = [
        {
            "preview_id": preview.id,
            "submission_id": submission_id,
            "old_score": score,
            "old_tests": test_outcomes(feedback),
            "status": SubmissionStatus.queued,
            "attempts": 0,
            "created_at": now,
        }
        for submission_id, score, feedback in graded
    ]
    if rows:
        await session.execute(insert(PreviewResult), rows)
    preview.total = len(rows)
    if not rows:
        preview.status, preview.finished_at = RegradeStatus.ready, now
    await session.flush()
    ids = list(
        await session.scalars(
            select(PreviewResult.id)
            .where(PreviewResult.preview_id == preview.id)
            .order_by(PreviewResult.id)
        )
    )
    preview_jobs_after_commit(session, outbox, ids)
    await announce_preview(session, outbox, preview)
    log.info("regrade_preview.started", id=preview.id, assignment_id=assignment.id, total=len(ids))
    return preview


async def get_preview(session: AsyncSession, *, preview_id: int) -> Regrade:
    # Fresh from the database: closing a preview is a conditional update that
    # bypasses the identity map.
    preview = await session.get(Regrade, preview_id, populate_existing=True)
    if preview is None or preview.kind is not RegradeKind.preview:
        raise NotFound("No such regrade preview.")
    return preview


# Deltas exist once results are in; a discarded preview keeps those it had.
WITH_DELTAS = (RegradeStatus.ready, RegradeStatus.applied, RegradeStatus.discarded)


async def preview_report(
    session: AsyncSession, preview: Regrade, *, policy: Policy | None = None
) -> dict[str, Any]:
    """The preview's state and progress and, once its results are in, the deltas for
    ``policy`` (by default the one it was applied with, else ``new``)."""
    progress = await preview_progress(session, preview_id=preview.id)
    chosen: Policy = policy or ("higher" if preview.policy == "higher" else "new")
    report = describe_preview(preview, progress) | {
        "deltas_policy": chosen,
        "summary": None,
        "deltas": None,
    }
    if preview.status in WITH_DELTAS:
        deltas, summary = await preview_deltas(session, preview, policy=chosen)
        report |= {"summary": asdict(summary), "deltas": [asdict(d) for d in deltas]}
    return report


async def list_previews(session: AsyncSession, *, assignment_id: int) -> list[Regrade]:
    query = (
        select(Regrade)
        .where(Regrade.assignment_id == assignment_id, Regrade.kind == RegradeKind.preview)
        .order_by(Regrade.id.desc())
    )
    return list(await session.scalars(query))


# Closing a preview: apply or discard, each at most once.


def _not_open(preview: Regrade, action: str) -> Conflict:
    messages = {
        RegradeStatus.running: f"The preview is still grading; {action} it once it is ready.",
        RegradeStatus.applied: "This preview was applied already.",
        RegradeStatus.discarded: "This preview was discarded.",
        RegradeStatus.failed: f"This preview failed ({preview.message}); start a new one.",
    }
    message = messages.get(preview.status, f"This preview cannot be {action}ed now.")
    return Conflict(message, details={"status": preview.status.value})


async def _close(
    session: AsyncSession,
    preview: Regrade,
    *,
    open_statuses: list[RegradeStatus],
    status: RegradeStatus,
    by: User | None,
    policy: Policy | None = None,
) -> bool:
    closed = await session.execute(
        update(Regrade)
        .where(Regrade.id == preview.id, Regrade.status.in_(open_statuses))
        .values(
            status=status,
            policy=policy,
            closed_at=utcnow(),
            closed_by_id=by.id if by is not None else None,
        )
        .execution_options(synchronize_session=False)
    )
    return getattr(closed, "rowcount", 0) == 1


async def discard_preview(
    session: AsyncSession, *, outbox: Outbox, preview: Regrade, by: User | None
) -> Regrade:
    """Close the preview without touching any score; its queued runs are dropped."""
    open_statuses = [RegradeStatus.running, RegradeStatus.ready]
    if not await _close(
        session, preview, open_statuses=open_statuses, status=RegradeStatus.discarded, by=by
    ):
        raise _not_open(await get_preview(session, preview_id=preview.id), "discard")
    preview = await get_preview(session, preview_id=preview.id)
    await announce_preview(session, outbox, preview)
    return preview


def _from_result(column: Any, preview_id: int) -> Any:
    """The value of ``column`` in the preview's result for the submission being updated."""
    return (
        select(column)
        .where(PreviewResult.preview_id == preview_id, PreviewResult.submission_id == Submission.id)
        .scalar_subquery()
    )


async def apply_preview(
    session: AsyncSession, *, outbox: Outbox, preview: Regrade, policy: Policy, by: User | None
) -> Regrade:
    """Store the preview's results on the submissions, as ``policy`` says, in this unit of work.

    ``new``: every submission takes its new result (status, score, feedback).
    ``higher``: a submission takes its new result when it scores at least as much as
    the old one, and otherwise keeps its old result whole, so feedback always
    explains the score. Results that ended in ``error`` are never applied. Each
    changed submission gets a new generation and an event for its student.
    """
    revision = await session.scalar(
        select(Assignment.revision).where(Assignment.id == preview.assignment_id)
    )
    if revision != preview.assignment_revision:
        raise Conflict(
            "The assignment's tests changed after this preview was graded; discard it "
            "and start a new preview."
        )
    if not await _close(
        session,
        preview,
        open_statuses=[RegradeStatus.ready],
        status=RegradeStatus.applied,
        by=by,
        policy=policy,
    ):
        raise _not_open(await get_preview(session, preview_id=preview.id), "apply")
    results = list(
        await session.scalars(
            select(PreviewResult).where(
                PreviewResult.preview_id == preview.id,
                PreviewResult.status.in_([SubmissionStatus.passed, SubmissionStatus.failed]),
            )
        )
    )
    taken = {
        r.submission_id: r
        for r in results
        if takes_new_result(policy, old_score=r.old_score, status=r.status, score=r.score)
    }
    changed: list[int] = []
    for chunk in chunks(sorted(taken)):
        current = await session.execute(
            select(Submission.id, Submission.status, Submission.score, Submission.feedback).where(
                Submission.id.in_(chunk)
            )
        )
        for submission_id, status, score, feedback in current:
            new = taken[submission_id]
            if (status, score, feedback) != (new.status, new.score, new.feedback):
                changed.append(submission_id)
        await session.execute(
            update(Submission)
            .where(Submission.id.in_(chunk))
            .values(
                status=_from_result(PreviewResult.status, preview.id),
                score=_from_result(PreviewResult.score, preview.id),
                feedback=_from_result(PreviewResult.feedback, preview.id),
                finished_at=_from_result(PreviewResult.finished_at, preview.id),
                generation=Submission.generation + 1,
                assignment_revision=preview.assignment_revision,
                reused_from_id=None,
                regrading=False,
            )
            .execution_options(synchronize_session=False)
        )
    for chunk in chunks(changed):
        updated = await session.scalars(
            select(Submission)
            .where(Submission.id.in_(chunk))
            .execution_options(populate_existing=True)
        )
        for submission in updated:
            await record_submission_event(session, outbox, submission)
    preview = await get_preview(session, preview_id=preview.id)
    await announce_preview(session, outbox, preview)
    log.info("regrade_preview.applied", id=preview.id, policy=policy, changed=len(changed))
    return preview
