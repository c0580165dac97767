"""The grading state of regrade previews: results claimed, stored and released
under the submission rules, and progress counted and announced.

A ``PreviewResult`` is graded like a submission: a conditional claim with a lease
and an attempt count, a result stored only by the lease owner of that attempt, an
expired lease or a lost message recovered by the sweeper, so a worker crash loses
nothing and a duplicate message finds nothing to claim. Once no result is pending
the preview is ``ready``. Progress goes to the teacher who started the preview as
``regrade_preview`` events, about every twentieth result and when it is ready.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gradeflow.courses.models import Assignment
from gradeflow.db import after_commit, transaction, utcnow
from gradeflow.errors import Unavailable
from gradeflow.events.service import record_event
from gradeflow.grading.messages import GRADING_QUEUE, PRIORITY_BULK, PreviewJob
from gradeflow.grading.models import PreviewResult, Regrade, RegradeKind, RegradeStatus, Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.sandbox import RunResult
from gradeflow.grading.verdicts import FINAL_STATUSES, SubmissionStatus, compute_score, status_for

log = structlog.get_logger(__name__)

PREVIEW_EVENT = "regrade_preview"
# About twenty progress events per preview, however large, plus one when it is ready.
PROGRESS_STEPS = 20
# Ids per IN (...) list, well under SQLite's limit on bound parameters.
CHUNK = 500


@dataclass(frozen=True)
class PreviewProgress:
    total: int
    done: int
    queued: int
    running: int
    errors: int

    @property
    def pending(self) -> int:
        return self.queued + self.running


def chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


def describe_preview(preview: Regrade, progress: PreviewProgress) -> dict[str, Any]:
    """The state of a preview, as the API, its page and its live events show it."""
    return {
        "id": preview.id,
        "assignment_id": preview.assignment_id,
        "status": preview.status.value,
        "policy": preview.policy,
        "message": preview.message,
        "revision": preview.assignment_revision,
        **asdict(progress),
        "created_at": preview.created_at.isoformat(),
        "finished_at": preview.finished_at.isoformat() if preview.finished_at else None,
        "closed_at": preview.closed_at.isoformat() if preview.closed_at else None,
    }


async def preview_progress(session: AsyncSession, *, preview_id: int) -> PreviewProgress:
    rows = await session.execute(
        select(PreviewResult.status, func.count())
        .where(PreviewResult.preview_id == preview_id)
        .group_by(PreviewResult.status)
    )
    counts = {status: int(count) for status, count in rows}
    return PreviewProgress(
        total=sum(counts.values()),
        done=sum(counts.get(s, 0) for s in FINAL_STATUSES),
        queued=counts.get(SubmissionStatus.queued, 0),
        running=counts.get(SubmissionStatus.running, 0),
        errors=counts.get(SubmissionStatus.error, 0),
    )


async def announce_preview(session: AsyncSession, outbox: Outbox, preview: Regrade) -> None:
    """A ``regrade_preview`` event for the teacher who started it, woken after commit."""
    if preview.created_by_id is None:
        return
    progress = await preview_progress(session, preview_id=preview.id)
    payload = {"preview": describe_preview(preview, progress)}
    await record_event(session, user_id=preview.created_by_id, type=PREVIEW_EVENT, payload=payload)
    outbox.announce_after_commit(session, [preview.created_by_id])


# Publishing preview jobs, after the commit that created or released their rows.


def preview_jobs_after_commit(session: AsyncSession, outbox: Outbox, result_ids: list[int]) -> None:
    if result_ids:
        after_commit(session, partial(publish_preview_jobs, outbox, list(result_ids)))


async def publish_preview_jobs(outbox: Outbox, result_ids: list[int]) -> int:
    """Publish preview jobs and mark them published; how many made it. Never raises."""
    published: list[int] = []
    try:
        for result_id in result_ids:
            body = PreviewJob(result_id).encode()
            await outbox.queue.publish(GRADING_QUEUE, body, priority=PRIORITY_BULK)
            published.append(result_id)
    except Unavailable:
        log.warning("regrade_preview.publish_deferred", pending=len(result_ids) - len(published))
    try:
        async with transaction(outbox.session_factory) as session:
            for chunk in chunks(published):
                await session.execute(
                    update(PreviewResult)
                    .where(PreviewResult.id.in_(chunk))
                    .values(published_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
    except Exception:
        # Unmarked rows are only published once more by the sweeper: harmless.
        log.exception("regrade_preview.mark_published_failed")
    return len(published)


# Grading preview results: the claim, lease and attempt rules of submissions.


def _of_running_preview() -> ColumnElement[bool]:
    running = select(Regrade.id).where(Regrade.status == RegradeStatus.running)
    return PreviewResult.preview_id.in_(running)


def _leased_by(result_id: int, owner: str) -> ColumnElement[bool]:
    return and_(
        PreviewResult.id == result_id,
        PreviewResult.status == SubmissionStatus.running,
        PreviewResult.lease_owner == owner,
    )


async def load_result(session: AsyncSession, result_id: int) -> PreviewResult:
    result = await session.scalar(
        select(PreviewResult)
        .options(
            joinedload(PreviewResult.submission).joinedload(Submission.assignment),
            joinedload(PreviewResult.preview),
        )
        .where(PreviewResult.id == result_id)
        .execution_options(populate_existing=True)
    )
    assert result is not None
    return result


async def claim_preview_result(
    session: AsyncSession,
    *,
    outbox: Outbox,
    result_id: int,
    owner: str,
    max_attempts: int,
    lease_margin_s: float,
    now: dt.datetime | None = None,
) -> PreviewResult | None:
    """Take the lease on a queued (or abandoned) preview result, or return None.

    None also when its preview is no longer running; when the assignment changed
    since the preview started, the preview fails instead (it would mix revisions).
    """
    now = now or utcnow()
    found = await session.execute(
        select(Regrade, Assignment.revision, Assignment.time_limit_s)
        .join(PreviewResult, PreviewResult.preview_id == Regrade.id)
        .join(Assignment, Assignment.id == Regrade.assignment_id)
        .where(PreviewResult.id == result_id)
    )
    row = found.first()
    if row is None or row[0].status is not RegradeStatus.running:
        return None
    preview, revision, time_limit = row
    if revision != preview.assignment_revision:
        await _fail(session, outbox, preview, "The assignment's tests changed while it ran.")
        return None
    claimable = or_(
        PreviewResult.status == SubmissionStatus.queued,
        (PreviewResult.status == SubmissionStatus.running) & (PreviewResult.lease_expires_at < now),
    )
    claimed = await session.execute(
        update(PreviewResult)
        .where(
            PreviewResult.id == result_id,
            claimable,
            PreviewResult.attempts < max_attempts,
            _of_running_preview(),
        )
        .values(
            status=SubmissionStatus.running,
            lease_owner=owner,
            lease_expires_at=now + dt.timedelta(seconds=time_limit + lease_margin_s),
            attempts=PreviewResult.attempts + 1,
            started_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) == 1:
        return await load_result(session, result_id)
    exhausted = await session.execute(
        update(PreviewResult)
        .where(PreviewResult.id == result_id, claimable, PreviewResult.attempts >= max_attempts)
        .values(
            status=SubmissionStatus.error,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=now,
            feedback={
                "outcome": "internal_error",
                "message": f"Grading failed {max_attempts} times; this result is not applied.",
                "tests": [],
            },
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(exhausted, "rowcount", 0) == 1:
        await _after_result(session, outbox, preview.id)
    return None


async def record_preview_result(
    session: AsyncSession,
    *,
    outbox: Outbox,
    result_id: int,
    owner: str,
    attempt: int,
    result: RunResult,
) -> PreviewResult | None:
    """Store the run if ``owner`` still holds the lease of ``attempt``; else None."""
    row = await load_result(session, result_id)
    assignment = row.submission.assignment
    stored = await session.execute(
        update(PreviewResult)
        .where(
            _leased_by(result_id, owner), PreviewResult.attempts == attempt, _of_running_preview()
        )
        .values(
            status=status_for(result),
            score=compute_score(
                points=assignment.points, scoring=assignment.scoring, result=result
            ),
            feedback=result.to_dict(),
            finished_at=utcnow(),
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(stored, "rowcount", 0) != 1:
        return None
    await _after_result(session, outbox, row.preview_id)
    return await load_result(session, result_id)


async def _after_result(session: AsyncSession, outbox: Outbox, preview_id: int) -> None:
    """Count the preview's results; ready once none is pending, progress every step.

    The preview row is locked first, so of two results stored at once the later
    one counts the earlier one as done and exactly one of them makes it ready.
    """
    preview = await session.scalar(
        select(Regrade)
        .where(Regrade.id == preview_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if preview is None or preview.status is not RegradeStatus.running:
        return
    progress = await preview_progress(session, preview_id=preview_id)
    if progress.pending == 0:
        preview.status, preview.finished_at = RegradeStatus.ready, utcnow()
        await session.flush()
        log.info("regrade_preview.ready", id=preview_id, total=progress.total)
    elif progress.done % max(1, progress.total // PROGRESS_STEPS):
        return
    await announce_preview(session, outbox, preview)


async def _fail(session: AsyncSession, outbox: Outbox, preview: Regrade, message: str) -> None:
    failed = await session.execute(
        update(Regrade)
        .where(Regrade.id == preview.id, Regrade.status == RegradeStatus.running)
        .values(status=RegradeStatus.failed, message=message, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(failed, "rowcount", 0) == 1:
        log.warning("regrade_preview.failed", id=preview.id, message=message)
        await session.refresh(preview)
        await announce_preview(session, outbox, preview)


async def release_preview_result(
    session: AsyncSession, *, outbox: Outbox, result_id: int, owner: str, republish: bool
) -> bool:
    """Give an unfinished run back to the queue; with ``republish`` publish its job again."""
    released = await session.execute(
        update(PreviewResult)
        .where(_leased_by(result_id, owner))
        .values(
            status=SubmissionStatus.queued,
            lease_owner=None,
            lease_expires_at=None,
            published_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(released, "rowcount", 0) != 1:
        return False
    if republish:
        preview_jobs_after_commit(session, outbox, [result_id])
    return True


async def renew_preview_lease(
    session: AsyncSession, *, result_id: int, owner: str, seconds: float
) -> bool:
    renewed = await session.execute(
        update(PreviewResult)
        .where(_leased_by(result_id, owner))
        .values(lease_expires_at=utcnow() + dt.timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return getattr(renewed, "rowcount", 0) == 1


# What the sweeper and an embedded restart look for.


async def requeue_abandoned_results(session: AsyncSession) -> int:
    """Embedded mode at start-up: every running result belongs to a dead process."""
    requeued = await session.execute(
        update(PreviewResult)
        .where(PreviewResult.status == SubmissionStatus.running)
        .values(status=SubmissionStatus.queued, lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(requeued, "rowcount", 0) or 0)


async def results_to_publish(session: AsyncSession, *, limit: int = 10_000) -> list[int]:
    """Queued results of running previews: the work to publish at an embedded start."""
    query = (
        select(PreviewResult.id)
        .where(PreviewResult.status == SubmissionStatus.queued, _of_running_preview())
        .order_by(PreviewResult.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def lost_results(
    session: AsyncSession, *, unpublished_for: dt.timedelta, limit: int = 1000
) -> list[int]:
    """Results of running previews whose job is lost: expired leases, failed publishes."""
    now = utcnow()
    expired = (PreviewResult.status == SubmissionStatus.running) & (
        PreviewResult.lease_expires_at < now
    )
    unpublished = (
        (PreviewResult.status == SubmissionStatus.queued)
        & PreviewResult.published_at.is_(None)
        & (PreviewResult.created_at < now - unpublished_for)
    )
    query = (
        select(PreviewResult.id)
        .where(or_(expired, unpublished), _of_running_preview())
        .order_by(PreviewResult.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def finish_idle_previews(session: AsyncSession, *, outbox: Outbox) -> int:
    """Make running previews with nothing pending ready (their last result's
    submission was deleted, say); how many were."""
    pending = select(PreviewResult.preview_id).where(
        PreviewResult.status.in_([SubmissionStatus.queued, SubmissionStatus.running])
    )
    idle = list(
        await session.scalars(
            select(Regrade.id).where(
                Regrade.kind == RegradeKind.preview,
                Regrade.status == RegradeStatus.running,
                Regrade.id.not_in(pending),
            )
        )
    )
    for preview_id in idle:
        await _after_result(session, outbox, preview_id)
    return len(idle)
