"""Import slots: take grade-file imports from their queue, run them, keep their leases.

An import reads its file (a local copy of the blob) in a thread, a thousand rows
at a time, so the event loop keeps serving pages in embedded mode. It stages the
rows (``grades/staging.py``), checks them, and ends in one transaction as applied,
validated, rejected or failed. Each write is guarded by the import's lease: when a
slot dies, the lease expires, the sweeper publishes the upload again, and the next
claim restages from the file and finishes it; a slot that lost its lease stops
writing. The job is acknowledged only after the outcome is committed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from functools import partial

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.courses.models import Course
from gradeflow.db import transaction
from gradeflow.grades import apply, imports
from gradeflow.grades.blobs import ORPHAN_AGE, BlobMissing, BlobStore
from gradeflow.grades.files import FileUnreadable, Table, find_columns, open_table
from gradeflow.grades.models import GradeUpload, UploadStatus
from gradeflow.grades.rows import GRADE_COLUMNS, LetterScale, RowError, RowReader, missing_columns
from gradeflow.grades.staging import ErrorLog, RowSource, stage_file
from gradeflow.grading.messages import IMPORTS_QUEUE, ImportJob, MalformedJob
from gradeflow.grading.outbox import Outbox
from gradeflow.infra.queue import Delivery, JobQueue, settle
from gradeflow.infra.slots import SlotPool, keep_lease

log = structlog.get_logger(__name__)

EVENT_INTERVAL_S = 0.5  # live events at most this often while rows stream in
UNPUBLISHED_GRACE = dt.timedelta(seconds=3)


@dataclass(frozen=True)
class ImporterConfig:
    slots: int
    max_attempts: int
    lease_s: float
    sweep_interval_s: float
    # The upload limit the files came under (an XLSX's parts are bounded by it).
    max_upload_bytes: int = 200 * 1024 * 1024


class Importer:
    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        queue: JobQueue,
        outbox: Outbox,
        blobs: BlobStore,
        config: ImporterConfig,
    ) -> None:
        self.session_factory = session_factory
        self.queue = queue
        self.outbox = outbox
        self.blobs = blobs
        self.config = config
        self.owner = imports.new_lease_owner()
        self._pool = SlotPool(
            name="imports",
            queue=queue,
            queue_name=IMPORTS_QUEUE,
            slots=config.slots,
            handle=self.handle,
            sweep=self.sweep,
            sweep_interval_s=config.sweep_interval_s,
        )

    async def start(self, *, recover: bool) -> None:
        """Start the slots and the sweeper; ``recover`` as ``Grader.start`` (embedded only)."""
        if recover:
            async with transaction(self.session_factory) as session:
                requeued = await imports.requeue_abandoned_uploads(session)
                pending = await imports.uploads_to_publish(session, unpublished_older_than=None)
            if requeued:
                log.warning("imports.recovered", requeued=requeued)
            await imports.publish_imports(self.outbox, pending)
        self._pool.start()
        log.info("importer.started", slots=self.config.slots, owner=self.owner)

    async def stop(self, *, grace_s: float = 0.0) -> None:
        await self._pool.stop(grace_s=grace_s)

    async def handle(self, delivery: Delivery) -> None:
        try:
            job = ImportJob.decode(delivery.body)
        except MalformedJob as exc:
            log.error("imports.malformed_job", error=str(exc))
            await delivery.reject(requeue=False)
            return
        await settle(
            delivery,
            run=partial(self.run, job.upload_id),
            release=partial(self._release, job.upload_id),
            failure_event="imports.job_failed",
            upload_id=job.upload_id,
        )

    async def _release(self, upload_id: int) -> None:
        try:
            async with transaction(self.session_factory) as session:
                await imports.release_upload(
                    session, outbox=self.outbox, upload_id=upload_id, owner=self.owner
                )
        except Exception:
            log.exception("imports.release_failed", upload_id=upload_id)

    async def _keep_lease(self, upload_id: int) -> None:
        renew = partial(
            imports.renew_upload_lease,
            upload_id=upload_id,
            owner=self.owner,
            seconds=self.config.lease_s,
        )
        await keep_lease(
            self.session_factory,
            renew,
            every_s=self.config.lease_s / 3,
            failure_event="imports.lease_renewal_failed",
            upload_id=upload_id,
        )

    async def run(self, upload_id: int) -> None:
        """Claim and run one import to its end; a no-op if it is not claimable."""
        async with transaction(self.session_factory) as session:
            upload = await imports.claim_upload(
                session,
                outbox=self.outbox,
                upload_id=upload_id,
                owner=self.owner,
                max_attempts=self.config.max_attempts,
                lease_s=self.config.lease_s,
            )
            if upload is not None:
                # Whatever an earlier attempt staged is thrown away: restage from the file.
                await apply.clear_staging(session, upload_id=upload_id)
        if upload is None:
            await self.run_revert(upload_id)
            return
        started = time.perf_counter()
        renewal = asyncio.create_task(self._keep_lease(upload_id))
        try:
            status = await ImportRun(self, upload).run()
        except apply.LeaseLost:
            log.warning("imports.lease_lost", upload_id=upload_id)
            return
        finally:
            renewal.cancel()
            with suppress(asyncio.CancelledError):
                await renewal
        log.info(
            "grade_upload.finished",
            id=upload_id,
            status=status.value,
            ms=round((time.perf_counter() - started) * 1000),
        )
        await self._clean_up(upload_id, status, upload.blob_key)

    async def run_revert(self, upload_id: int) -> None:
        """Claim and run one requested revert, in one transaction; a no-op if not claimable.

        Killed mid-way, the transaction is rolled back and the lease runs out: the sweeper
        publishes it again and the next claim runs it whole.
        """
        async with transaction(self.session_factory) as session:
            upload = await imports.claim_revert(
                session,
                outbox=self.outbox,
                upload_id=upload_id,
                owner=self.owner,
                max_attempts=self.config.max_attempts,
                lease_s=self.config.lease_s,
            )
        if upload is None:
            return
        renewal = asyncio.create_task(self._keep_lease(upload_id))
        try:
            async with transaction(self.session_factory) as session:
                await apply.guard_revert(session, upload_id=upload_id, owner=self.owner)
                outcome = await apply.revert_cells(
                    session,
                    upload_id=upload_id,
                    course_id=upload.course_id,
                    user_id=upload.reverted_by_id,
                    force=upload.revert_force,
                )
                status = await apply.finish_revert(
                    session,
                    outbox=self.outbox,
                    upload_id=upload_id,
                    owner=self.owner,
                    outcome=outcome,
                )
        except apply.LeaseLost:
            log.warning("imports.revert_lease_lost", upload_id=upload_id)
            return
        finally:
            renewal.cancel()
            with suppress(asyncio.CancelledError):
                await renewal
        log.info("grade_upload.revert_finished", id=upload_id, status=status.value)

    async def _clean_up(self, upload_id: int, status: UploadStatus, key: str | None) -> None:
        """Staged rows go at once, unless they are an applied upload's history; the file
        too, unless a dry run may still be applied."""
        async with transaction(self.session_factory) as session:
            if status is not UploadStatus.applied:
                await apply.clear_staging(session, upload_id=upload_id)
            if key is not None and status is not UploadStatus.validated:
                await imports.forget_blob(session, upload_id=upload_id)
        if key is not None and status is not UploadStatus.validated:
            await self.blobs.delete(key)

    async def sweep(self) -> int:
        """Publish imports that lost their message or their worker; delete unneeded files."""
        async with transaction(self.session_factory) as session:
            ids = await imports.uploads_to_publish(
                session, unpublished_older_than=UNPUBLISHED_GRACE
            )
            unneeded = await imports.blobs_to_delete(session)
        for upload_id, key in unneeded:
            await self.blobs.delete(key)
            async with transaction(self.session_factory) as session:
                await imports.forget_blob(session, upload_id=upload_id)
        await self.remove_orphan_blobs()
        if not ids:
            return 0
        sent = await imports.publish_imports(self.outbox, ids)
        log.info("imports.swept", republished=sent)
        return sent

    async def remove_orphan_blobs(self) -> int:
        """Delete what uploads killed mid-way left: partial writes, and complete blobs no
        upload names (``ORPHAN_AGE`` old, so an upload in flight is never touched)."""
        removed = await self.blobs.remove_partial(older_than=ORPHAN_AGE)
        candidates = await self.blobs.orphans(older_than=ORPHAN_AGE)
        async with self.session_factory() as session:
            orphans = await imports.unrecorded_blobs(session, candidates)
        for key in orphans:
            await self.blobs.delete(key)
        if removed or orphans:
            log.info("imports.orphan_blobs_removed", partial=removed, unrecorded=len(orphans))
        return removed + len(orphans)


class ImportRun:
    """One claimed import, from its file to its final state."""

    def __init__(self, importer: Importer, upload: GradeUpload) -> None:
        self.importer = importer
        self.factory = importer.session_factory
        self.outbox = importer.outbox
        self.owner = importer.owner
        self.upload = upload
        self.errors = ErrorLog()
        self._last_event = 0.0
        self._counts: AsyncSession | None = None  # while staging on PostgreSQL

    async def run(self) -> UploadStatus:
        upload = self.upload
        if upload.blob_key is None:
            return await self._finish(UploadStatus.failed, "The file is no longer kept.")
        try:
            async with self.importer.blobs.local_copy(upload.blob_key) as path:
                with ExitStack() as stack:
                    try:
                        opened = open_table(path, max_bytes=self.importer.config.max_upload_bytes)
                        table = await asyncio.to_thread(stack.enter_context, opened)
                        return await self._import(table)
                    except FileUnreadable as exc:
                        return await self._finish(UploadStatus.failed, exc.message)
        except BlobMissing:
            return await self._finish(UploadStatus.failed, "The uploaded file is no longer kept.")

    async def _progress(self, phase: str, rows_done: int, rows_total: int | None) -> None:
        now = time.monotonic()
        announce = now - self._last_event >= EVENT_INTERVAL_S or phase != self.upload.phase
        async with transaction(self.factory) as session:
            await apply.write_progress(
                session,
                outbox=self.outbox,
                upload_id=self.upload.id,
                owner=self.owner,
                phase=phase,
                rows_done=rows_done,
                rows_total=rows_total,
                announce=announce,
            )
        if announce:
            self._last_event = now
        self.upload.phase = phase

    async def _finish(self, status: UploadStatus, message: str, **outcome: object) -> UploadStatus:
        async with transaction(self.factory) as session:
            await apply.finish_upload(
                session,
                outbox=self.outbox,
                upload_id=self.upload.id,
                owner=self.owner,
                status=status,
                message=message,
                **outcome,  # type: ignore[arg-type]
            )
        return status

    async def _reject(self, rows_total: int) -> UploadStatus:
        errors = self.errors
        message = (
            f"{errors.total} error{'s' if errors.total != 1 else ''} in the file; nothing was "
            "applied. Correct them and upload the file again."
        )
        return await self._finish(
            UploadStatus.rejected,
            message,
            errors=errors.kept,
            errors_total=errors.total,
            rows_total=rows_total,
        )

    async def _import(self, table: Table) -> UploadStatus:
        upload = self.upload
        columns = find_columns(table.header, GRADE_COLUMNS, written=table.written_header)
        for error in missing_columns(columns, header_row=table.header_row):
            self.errors.add(error)
        if self.errors.total:
            return await self._reject(0)
        async with self.factory() as session:
            course = await session.get_one(Course, upload.course_id)
            scale = LetterScale(course.letters)
            roster = await apply.roster_keys(session, course_id=upload.course_id)
        await self._progress("staging", 0, table.estimated_rows)
        source = RowSource(
            upload_id=upload.id,
            rows=table.rows,
            reader=RowReader(columns, scale),
            roster=roster,
            errors=self.errors,
            estimated_rows=table.estimated_rows,
        )
        staging_started = time.perf_counter()
        async with apply.counts_session(self.factory) as self._counts:
            done = await stage_file(self.factory, source=source, progress=self._staging_progress)
        checks_started = time.perf_counter()
        log.info(
            "grade_upload.staged",
            id=upload.id,
            rows=done,
            ms=round((checks_started - staging_started) * 1000),
            reading_ms=round(source.reading_s * 1000),
            waiting_for_counts_ms=round(source.counts_wait_s * 1000),
        )
        if done == 0:
            return await self._finish(
                UploadStatus.failed, "The file has a header row but no grades under it."
            )
        await self._progress("checking", done, done)
        async with transaction(self.factory) as session:
            await apply.analyze_staging(session)
            if source.duplicates.needs_sql_check:
                duplicates, duplicate_total = await apply.duplicate_errors(
                    session, upload_id=upload.id
                )
                self.errors.extend(duplicates, duplicate_total)
            await self._explain_unknown(session)
        log.info(
            "grade_upload.checked",
            id=upload.id,
            ms=round((time.perf_counter() - checks_started) * 1000),
        )
        if self.errors.total:
            return await self._reject(done)
        with_comments = "comment" in columns
        same_file = upload.message
        if upload.dry_run:
            async with self.factory() as session:
                changes, changes_total = await apply.preview_changes(
                    session,
                    upload_id=upload.id,
                    course_id=upload.course_id,
                    with_comments=with_comments,
                )
                token = await apply.state_token(
                    session, upload_id=upload.id, course_id=upload.course_id
                )
            message = apply.summarise(
                dry_run=True,
                changes=changes_total,
                ignored=columns.ignored,
                rows=done,
                same_file=same_file,
            )
            return await self._finish(
                UploadStatus.validated,
                message,
                changes=changes,
                changes_total=changes_total,
                rows_total=done,
                token=token,
            )
        apply_started = time.perf_counter()
        async with transaction(self.factory) as session:
            outcome = await apply.apply_staged(
                session,
                upload_id=upload.id,
                owner=self.owner,
                course_id=upload.course_id,
                user_id=upload.uploaded_by_id,
                expected_token=upload.expected_token,
                with_comments=with_comments,
            )
            refusal = self._refusal(outcome)
            if refusal:
                await apply.finish_upload(
                    session,
                    outbox=self.outbox,
                    upload_id=upload.id,
                    owner=self.owner,
                    status=UploadStatus.rejected,
                    message=refusal,
                    rows_total=done,
                )
                return UploadStatus.rejected
            changes = await apply.recorded_changes(session, upload_id=upload.id)
            await apply.finish_upload(
                session,
                outbox=self.outbox,
                upload_id=upload.id,
                owner=self.owner,
                status=UploadStatus.applied,
                message=apply.summarise(
                    dry_run=False,
                    changes=outcome.changes_total,
                    ignored=columns.ignored,
                    rows=done,
                    same_file=same_file,
                ),
                changes=changes,
                changes_total=outcome.changes_total,
                rows_total=done,
                token=outcome.token,
            )
        log.info(
            "grade_upload.applied",
            id=upload.id,
            changes=outcome.changes_total,
            ms=round((time.perf_counter() - apply_started) * 1000),
        )
        return UploadStatus.applied

    def _refusal(self, outcome: apply.ApplyOutcome) -> str:
        """Why the apply wrote nothing ("" if it went through)."""
        upload = self.upload
        if outcome.stale_cells:
            return apply.stale_message(
                outcome.stale_cells,
                duplicate_of=None if upload.validated_at else upload.duplicate_of_id,
                dry_run_id=upload.id,
            )
        if outcome.unenrolled_rows:
            return (
                f"Nothing applied: {outcome.unenrolled_rows} rows grade students who were "
                "removed from the course while the file was read. Upload it again."
            )
        return ""

    async def _staging_progress(self, done: int, total: int, session: AsyncSession | None) -> None:
        """Rows read so far, in ``session`` or in a short transaction of its own.

        One of its own commits without waiting for the disk unless it carries a live
        event: a count lost in a crash is rewritten by the restaging that follows.
        """
        announce = self._announce_due()
        if session is not None:
            await self._write_staging(session, done, total, announce=announce)
            return
        if self._counts is not None and not announce:
            await self._write_staging(self._counts, done, total, announce=False)
            return
        async with transaction(self.factory) as own:
            if not announce:
                await apply.relax_commit(own)
            await self._write_staging(own, done, total, announce=announce)

    async def _write_staging(
        self, session: AsyncSession, done: int, total: int, *, announce: bool
    ) -> None:
        await apply.write_progress(
            session,
            outbox=self.outbox,
            upload_id=self.upload.id,
            owner=self.owner,
            phase="staging",
            rows_done=done,
            rows_total=total,
            announce=announce,
        )

    def _announce_due(self) -> bool:
        now = time.monotonic()
        if now - self._last_event >= EVENT_INTERVAL_S:
            self._last_event = now
            return True
        return False

    async def _explain_unknown(self, session: AsyncSession) -> None:
        """Tell "no such account" from "not enrolled" for the errors that are kept."""
        unknown = self.errors.unknown
        accounts = await apply.explain_unknown_students(session, [s for _, s in unknown])
        for index, student in unknown:
            if student not in accounts:
                error = self.errors.kept[index]
                self.errors.kept[index] = RowError(
                    error.row,
                    error.column,
                    f"No account has the email or student number {student!r}.",
                )
