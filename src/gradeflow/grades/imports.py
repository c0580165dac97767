"""Grade uploads as teachers see them: create, read, list, apply a dry run; and the
lease rules by which import slots claim them (as submissions are claimed, BRIEF 3).

The import itself (staging, checks, the set-based apply, revert) is in
``grades/apply.py``; the slots that run it in ``grades/worker.py``. Every change of
an upload records a ``grade_upload`` event for its uploader, so the upload page
follows it live over ``/api/events``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterable
from functools import partial
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import User
from gradeflow.courses.members import taught_course
from gradeflow.courses.models import Course
from gradeflow.db import after_commit, transaction, utcnow
from gradeflow.errors import Conflict, Invalid, NotFound, Unavailable
from gradeflow.events.service import record_event
from gradeflow.grades.blobs import BlobStore
from gradeflow.grades.intake import ReceivedFile, ReceivedForm
from gradeflow.grades.models import GradeUpload, RevertStatus, UploadStatus
from gradeflow.grading.messages import IMPORTS_QUEUE, ImportJob
from gradeflow.grading.outbox import Outbox

log = structlog.get_logger(__name__)

UPLOAD_EVENT = "grade_upload"
# How many errors and changes an upload keeps to show; the totals count all of them.
KEPT = 100
# A dry run's file is kept this long, so that it can be applied without uploading
# it again; applied, rejected and failed uploads' files are deleted at once.
VALIDATED_KEEP = dt.timedelta(days=7)


def new_lease_owner() -> str:
    """Who holds an import's lease: host, process and slot set, readable in the table."""
    return f"import:{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def short_view(upload: GradeUpload) -> dict[str, Any]:
    """What a progress event carries: enough to redraw the progress bar and the status."""
    return {
        "id": upload.id,
        "course_id": upload.course_id,
        "status": upload.status.value,
        "phase": upload.phase,
        "dry_run": upload.dry_run,
        "rows_total": upload.rows_total,
        # While the file is read the total is the reader's estimate (its lines); the
        # count of rows read replaces it when the import ends.
        "rows_total_estimated": not upload.status.is_final and upload.rows_total is not None,
        "rows_done": upload.rows_done,
        "errors_total": upload.errors_total,
        "changes_total": upload.changes_total,
        "message": upload.message,
        "revert_status": upload.revert_status,
    }


def describe_upload(upload: GradeUpload) -> dict[str, Any]:
    """The whole public view of an upload (``GET /api/grade-uploads/{id}``)."""
    return short_view(upload) | {
        "filename": upload.filename,
        "size": upload.size,
        "sha256": upload.sha256,
        "force": upload.force,
        "errors": upload.errors,
        "changes": upload.changes,
        "errors_truncated": upload.errors_total > len(upload.errors),
        "changes_truncated": upload.changes_total > len(upload.changes),
        "duplicate_of": upload.duplicate_of_id,
        "uploaded_by": upload.uploaded_by_id,
        "created_at": upload.created_at.isoformat(),
        "finished_at": upload.finished_at.isoformat() if upload.finished_at else None,
        "reverted_at": upload.reverted_at.isoformat() if upload.reverted_at else None,
        "can_apply": upload.status is UploadStatus.validated and upload.blob_key is not None,
        "can_revert": upload.status is UploadStatus.applied
        and upload.reverted_at is None
        and upload.changes_total > 0
        and not _revert_pending(upload),
    }


def _revert_pending(upload: GradeUpload) -> bool:
    return upload.revert_status in (RevertStatus.queued, RevertStatus.running)


async def record_upload_event(session: AsyncSession, outbox: Outbox, upload: GradeUpload) -> None:
    if upload.uploaded_by_id is None:
        return
    payload = {"upload": short_view(upload)}
    await record_event(session, user_id=upload.uploaded_by_id, type=UPLOAD_EVENT, payload=payload)
    outbox.announce_after_commit(session, [upload.uploaded_by_id])


def import_after_commit(session: AsyncSession, outbox: Outbox, upload_ids: list[int]) -> None:
    """Publish an import job for each upload once ``session`` commits."""
    if upload_ids:
        after_commit(session, partial(publish_imports, outbox, list(upload_ids)))


async def publish_imports(outbox: Outbox, upload_ids: Iterable[int]) -> int:
    """Publish import jobs and mark them published; a failure leaves the rest to the sweeper."""
    published: list[int] = []
    try:
        for upload_id in upload_ids:
            await outbox.queue.publish(IMPORTS_QUEUE, ImportJob(upload_id).encode())
            published.append(upload_id)
    except Unavailable:
        log.warning("imports.publish_deferred")
    if published:
        try:
            async with transaction(outbox.session_factory) as session:
                await session.execute(
                    update(GradeUpload)
                    .where(GradeUpload.id.in_(published))
                    .values(published_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            log.exception("imports.mark_published_failed")  # the sweeper publishes again: harmless
    return len(published)


async def _earlier_same_file(
    session: AsyncSession, *, course_id: int, sha256: str
) -> GradeUpload | None:
    return await session.scalar(
        select(GradeUpload)
        .where(GradeUpload.course_id == course_id, GradeUpload.sha256 == sha256)
        .order_by(GradeUpload.id.desc())
        .limit(1)
    )


def _same_file_message(earlier: GradeUpload) -> str:
    when = earlier.created_at.strftime("%Y-%m-%d %H:%M UTC")
    state = earlier.status.value + (", since reverted" if earlier.reverted_at else "")
    return f"This file was uploaded before, as upload #{earlier.id} on {when} ({state})."


async def create_upload(
    session: AsyncSession,
    *,
    outbox: Outbox,
    course: Course,
    user: User,
    received: ReceivedFile,
    dry_run: bool,
    force: bool,
) -> GradeUpload:
    """Record a received file as a queued import; its job is published after the commit.

    The same content uploaded to the same course before is named (``duplicate_of``);
    applying it again is then checked against the grades that upload saw or left.
    """
    earlier = await _earlier_same_file(session, course_id=course.id, sha256=received.sha256)
    expected = None
    repeats = earlier is not None and earlier.reverted_at is None and not (dry_run or force)
    if repeats and earlier is not None and earlier.status.is_final:
        # Only an earlier validated or applied upload has a state (its token) to hold to.
        expected = earlier.state_token
    upload = GradeUpload(
        course_id=course.id,
        uploaded_by_id=user.id,
        filename=received.filename,
        size=received.size,
        sha256=received.sha256,
        blob_key=received.key,
        dry_run=dry_run,
        force=force,
        status=UploadStatus.queued,
        phase="queued",
        rows_done=0,
        errors=[],
        errors_total=0,
        changes=[],
        changes_total=0,
        message=_same_file_message(earlier) if earlier is not None else "",
        duplicate_of_id=earlier.id if earlier is not None else None,
        expected_token=expected,
        attempts=0,
        created_at=utcnow(),
    )
    session.add(upload)
    await session.flush()
    import_after_commit(session, outbox, [upload.id])
    await record_upload_event(session, outbox, upload)
    return upload


def form_flag(fields: dict[str, str], name: str) -> bool:
    """A true/false form field (absent: false)."""
    value = fields.get(name, "false").strip().lower()
    if value in ("true", "1", "on", "yes"):
        return True
    if value in ("false", "0", "off", "no", ""):
        return False
    raise Invalid(f"{name} is true or false, not {value[:20]!r}.", details={"field": name})


async def record_received_upload(
    factory: async_sessionmaker[AsyncSession],
    *,
    outbox: Outbox,
    blobs: BlobStore,
    course_id: int,
    user: User,
    form: ReceivedForm,
) -> GradeUpload:
    """A received form as a queued upload, in a unit of work of its own.

    It owns the unit of work because the blob must go if the upload is not recorded.
    """
    assert form.file is not None
    try:
        dry_run, force = form_flag(form.fields, "dry_run"), form_flag(form.fields, "force")
        async with transaction(factory) as session:
            course = await session.get_one(Course, course_id)
            return await create_upload(
                session,
                outbox=outbox,
                course=course,
                user=user,
                received=form.file,
                dry_run=dry_run,
                force=force,
            )
    except BaseException:
        await asyncio.shield(blobs.delete(form.file.key))
        raise


async def taught_upload(session: AsyncSession, *, upload_id: int, user: User) -> GradeUpload:
    """The upload if ``user`` teaches its course: 404 unseen, 403 seen but not taught."""
    upload = await session.get(GradeUpload, upload_id)
    if upload is None:
        raise NotFound("No such grade upload.")
    await taught_course(session, course_id=upload.course_id, user=user)
    return upload


async def list_uploads(
    session: AsyncSession, *, course_id: int, limit: int = 100
) -> list[GradeUpload]:
    query = (
        select(GradeUpload)
        .where(GradeUpload.course_id == course_id)
        .order_by(GradeUpload.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(query))


async def request_apply(
    session: AsyncSession, *, outbox: Outbox, upload: GradeUpload, user: User, force: bool
) -> GradeUpload:
    """Queue a validated dry run to be applied, checked against the grades it saw."""
    if upload.status is not UploadStatus.validated:
        raise Conflict(
            f"Only a validated dry run can be applied; this upload is {upload.status.value}."
        )
    if upload.blob_key is None:
        raise Conflict(
            "The file of this dry run is no longer kept (dry runs are kept "
            f"{VALIDATED_KEEP.days} days); upload it again."
        )
    claimed = await session.execute(
        update(GradeUpload)
        .where(GradeUpload.id == upload.id, GradeUpload.status == UploadStatus.validated)
        .values(
            status=UploadStatus.queued,
            phase="queued",
            dry_run=False,
            force=force,
            expected_token=None if force else upload.state_token,
            uploaded_by_id=user.id,
            rows_done=0,
            errors=[],
            errors_total=0,
            changes=[],
            changes_total=0,
            message="",
            attempts=0,
            published_at=None,
            finished_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise Conflict("This upload is being applied already.")
    await session.refresh(upload)
    import_after_commit(session, outbox, [upload.id])
    await record_upload_event(session, outbox, upload)
    return upload


async def request_revert(
    session: AsyncSession, *, outbox: Outbox, upload: GradeUpload, user: User, force: bool
) -> GradeUpload:
    """Queue a revert of an applied upload; an import slot runs it (``worker.RevertRun``).

    The upload stays ``applied``; ``revert_status`` goes queued, running, then reverted
    (every cell put back in one transaction) or refused (cells changed since, no force).
    """
    if upload.status is not UploadStatus.applied:
        raise Conflict(
            f"Only an applied upload can be reverted; this one is {upload.status.value}."
        )
    if upload.reverted_at is not None:
        raise Conflict("This upload was reverted already.")
    if _revert_pending(upload):
        raise Conflict("This upload is being reverted already.")
    open_to_revert = or_(
        GradeUpload.revert_status.is_(None),
        GradeUpload.revert_status.in_([RevertStatus.refused, RevertStatus.failed]),
    )
    claimed = await session.execute(
        update(GradeUpload)
        .where(
            GradeUpload.id == upload.id,
            GradeUpload.status == UploadStatus.applied,
            GradeUpload.reverted_at.is_(None),
            open_to_revert,
        )
        .values(
            revert_status=RevertStatus.queued,
            revert_force=force,
            revert_requested_at=utcnow(),
            reverted_by_id=user.id,
            phase="queued",
            message="Revert queued.",
            attempts=0,
            published_at=None,
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise Conflict("This upload is being reverted already.")
    await session.refresh(upload)
    import_after_commit(session, outbox, [upload.id])
    await record_upload_event(session, outbox, upload)
    return upload


def revert_leased_by(upload_id: int, owner: str) -> ColumnElement[bool]:
    """The upload's revert is running under ``owner``'s lease (the guard of its writes)."""
    return and_(
        GradeUpload.id == upload_id,
        GradeUpload.revert_status == RevertStatus.running,
        GradeUpload.lease_owner == owner,
    )


async def claim_revert(
    session: AsyncSession,
    *,
    outbox: Outbox,
    upload_id: int,
    owner: str,
    max_attempts: int,
    lease_s: float,
    now: dt.datetime | None = None,
) -> GradeUpload | None:
    """Take the lease on a queued (or abandoned) revert, or return None (as ``claim_upload``).

    A revert out of attempts ends ``failed`` here, nothing changed.
    """
    now = now or utcnow()
    claimable = and_(
        GradeUpload.status == UploadStatus.applied,
        or_(
            GradeUpload.revert_status == RevertStatus.queued,
            (GradeUpload.revert_status == RevertStatus.running)
            & (GradeUpload.lease_expires_at < now),
        ),
    )
    claimed = await session.execute(
        update(GradeUpload)
        .where(GradeUpload.id == upload_id, claimable, GradeUpload.attempts < max_attempts)
        .values(
            revert_status=RevertStatus.running,
            phase="reverting",
            message="Reverting…",
            lease_owner=owner,
            lease_expires_at=now + dt.timedelta(seconds=lease_s),
            attempts=GradeUpload.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) == 1:
        upload = await _load(session, upload_id)
        await record_upload_event(session, outbox, upload)
        return upload
    exhausted = await session.execute(
        update(GradeUpload)
        .where(GradeUpload.id == upload_id, claimable, GradeUpload.attempts >= max_attempts)
        .values(
            revert_status=RevertStatus.failed,
            phase="done",
            lease_owner=None,
            lease_expires_at=None,
            message=f"The revert failed {max_attempts} times on our side; nothing was changed. "
            "Try again later; the operators have the logs.",
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(exhausted, "rowcount", 0) == 1:
        await record_upload_event(session, outbox, await _load(session, upload_id))
    return None


def leased_by(upload_id: int, owner: str) -> ColumnElement[bool]:
    """The upload is running under ``owner``'s lease (the guard of every import write)."""
    return and_(
        GradeUpload.id == upload_id,
        GradeUpload.status == UploadStatus.running,
        GradeUpload.lease_owner == owner,
    )


async def claim_upload(
    session: AsyncSession,
    *,
    outbox: Outbox,
    upload_id: int,
    owner: str,
    max_attempts: int,
    lease_s: float,
    now: dt.datetime | None = None,
) -> GradeUpload | None:
    """Take the lease on a queued (or abandoned) upload, or return None.

    None: someone else holds it, it is finished, or it is gone. An upload out of
    attempts ends ``failed`` here instead.
    """
    now = now or utcnow()
    claimable = or_(
        GradeUpload.status == UploadStatus.queued,
        (GradeUpload.status == UploadStatus.running) & (GradeUpload.lease_expires_at < now),
    )
    claimed = await session.execute(
        update(GradeUpload)
        .where(GradeUpload.id == upload_id, claimable, GradeUpload.attempts < max_attempts)
        .values(
            status=UploadStatus.running,
            phase="reading",
            rows_done=0,
            lease_owner=owner,
            lease_expires_at=now + dt.timedelta(seconds=lease_s),
            attempts=GradeUpload.attempts + 1,
            started_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) == 1:
        upload = await _load(session, upload_id)
        await record_upload_event(session, outbox, upload)
        return upload
    exhausted = await session.execute(
        update(GradeUpload)
        .where(GradeUpload.id == upload_id, claimable, GradeUpload.attempts >= max_attempts)
        .values(
            status=UploadStatus.failed,
            phase="done",
            lease_owner=None,
            lease_expires_at=None,
            finished_at=now,
            message=f"The import failed {max_attempts} times on our side; nothing was applied. "
            "Try again later; the operators have the logs.",
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(exhausted, "rowcount", 0) == 1:
        await record_upload_event(session, outbox, await _load(session, upload_id))
    return None


async def _load(session: AsyncSession, upload_id: int) -> GradeUpload:
    upload = await session.scalar(
        select(GradeUpload)
        .where(GradeUpload.id == upload_id)
        .execution_options(populate_existing=True)
    )
    assert upload is not None
    return upload


async def renew_upload_lease(
    session: AsyncSession, *, upload_id: int, owner: str, seconds: float
) -> bool:
    renewed = await session.execute(
        update(GradeUpload)
        .where(or_(leased_by(upload_id, owner), revert_leased_by(upload_id, owner)))
        .values(lease_expires_at=utcnow() + dt.timedelta(seconds=seconds))
        .execution_options(synchronize_session=False)
    )
    return getattr(renewed, "rowcount", 0) == 1


async def release_upload(
    session: AsyncSession, *, outbox: Outbox, upload_id: int, owner: str
) -> bool:
    """Give an unfinished import or revert back to the queue (shutdown); False if not ours."""
    released = await session.execute(
        update(GradeUpload)
        .where(leased_by(upload_id, owner))
        .values(
            status=UploadStatus.queued,
            phase="queued",
            rows_done=0,
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(released, "rowcount", 0) != 1:
        released = await session.execute(
            update(GradeUpload)
            .where(revert_leased_by(upload_id, owner))
            .values(
                revert_status=RevertStatus.queued,
                phase="queued",
                lease_owner=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )
    if getattr(released, "rowcount", 0) != 1:
        return False
    await record_upload_event(session, outbox, await _load(session, upload_id))
    return True


async def requeue_abandoned_uploads(session: AsyncSession) -> int:
    """Embedded mode at start-up: every ``running`` import or revert died with the previous
    process."""
    imports_ = await session.execute(
        update(GradeUpload)
        .where(GradeUpload.status == UploadStatus.running)
        .values(status=UploadStatus.queued, phase="queued", lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    reverts = await session.execute(
        update(GradeUpload)
        .where(GradeUpload.revert_status == RevertStatus.running)
        .values(
            revert_status=RevertStatus.queued,
            phase="queued",
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(imports_, "rowcount", 0) or 0) + int(getattr(reverts, "rowcount", 0) or 0)


async def uploads_to_publish(
    session: AsyncSession, *, unpublished_older_than: dt.timedelta | None, limit: int = 1000
) -> list[int]:
    """Expired leases, and queued uploads whose job never reached the queue.

    ``unpublished_older_than`` None: every queued upload (start-up of embedded mode).
    """
    now = utcnow()
    running = or_(
        GradeUpload.status == UploadStatus.running,
        GradeUpload.revert_status == RevertStatus.running,
    )
    expired = running & (GradeUpload.lease_expires_at < now)
    queued = GradeUpload.status == UploadStatus.queued
    revert_queued = GradeUpload.revert_status == RevertStatus.queued
    if unpublished_older_than is not None:
        queued = queued & GradeUpload.published_at.is_(None)
        queued = queued & (GradeUpload.created_at < now - unpublished_older_than)
        revert_queued = revert_queued & GradeUpload.published_at.is_(None)
        revert_queued = revert_queued & (
            GradeUpload.revert_requested_at < now - unpublished_older_than
        )
    query = (
        select(GradeUpload.id)
        .where(or_(expired, queued, revert_queued))
        .order_by(GradeUpload.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def blobs_to_delete(session: AsyncSession, *, limit: int = 100) -> list[tuple[int, str]]:
    """Files of finished uploads no longer needed: (upload id, blob key)."""
    now = utcnow()
    finished = GradeUpload.status.in_(
        [UploadStatus.applied, UploadStatus.rejected, UploadStatus.failed]
    )
    stale_dry_run = (GradeUpload.status == UploadStatus.validated) & (
        GradeUpload.finished_at < now - VALIDATED_KEEP
    )
    rows = await session.execute(
        select(GradeUpload.id, GradeUpload.blob_key)
        .where(GradeUpload.blob_key.is_not(None), or_(finished, stale_dry_run))
        .order_by(GradeUpload.id)
        .limit(limit)
    )
    return [(upload_id, key) for upload_id, key in rows if key is not None]


async def forget_blob(session: AsyncSession, *, upload_id: int) -> None:
    await session.execute(
        update(GradeUpload)
        .where(GradeUpload.id == upload_id)
        .values(blob_key=None)
        .execution_options(synchronize_session=False)
    )


async def unrecorded_blobs(session: AsyncSession, keys: list[str]) -> list[str]:
    """Of ``keys``, those no upload names: blobs of uploads that died before their row."""
    if not keys:
        return []
    named = set(
        await session.scalars(select(GradeUpload.blob_key).where(GradeUpload.blob_key.in_(keys)))
    )
    return [key for key in keys if key not in named]
