"""Grader slots' work on regrade previews: one preview result per ``PreviewJob``.

The same rules as for submissions (``worker.py``): claim, run with a renewed lease,
store on the lease, and acknowledge only after the commit; an internal error or a
shutdown gives the run back. The ``Grader`` hands these jobs over and calls
``recover`` and ``sweep`` beside its own; a run takes its turn at the grader's
``PriorityGate`` at bulk priority, so a student's submission claimed meanwhile goes
first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from contextlib import suppress
from functools import partial

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import transaction
from gradeflow.grading import preview_runs
from gradeflow.grading.messages import PRIORITY_BULK, PreviewJob
from gradeflow.grading.models import PreviewResult
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.regrades import close_finished_direct_regrades
from gradeflow.grading.sandbox import RunResult, RunSpec, Sandbox
from gradeflow.infra.queue import Delivery, settle
from gradeflow.infra.slots import PriorityGate, keep_lease
from gradeflow.metrics import Metrics

log = structlog.get_logger(__name__)


class PreviewGrader:
    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        sandbox: Sandbox,
        turns: PriorityGate,
        metrics: Metrics,
        owner: str,
        max_attempts: int,
        lease_margin_s: float,
        output_limit_bytes: int,
    ) -> None:
        self.session_factory = session_factory
        self.outbox = outbox
        self.sandbox = sandbox
        self.turns = turns
        self.metrics = metrics
        self.owner = owner
        self.max_attempts = max_attempts
        self.lease_margin_s = lease_margin_s
        self.output_limit_bytes = output_limit_bytes

    async def handle(self, delivery: Delivery, job: PreviewJob) -> None:
        await settle(
            delivery,
            run=partial(self.grade, job.result_id),
            release=partial(self._release, job.result_id, republish=False),
            failure_event="regrade_preview.job_failed",
            result_id=job.result_id,
        )

    async def grade(self, result_id: int) -> None:
        """Claim, run and store one preview result; a no-op if it is not claimable."""
        async with transaction(self.session_factory) as session:
            claimed = await preview_runs.claim_preview_result(
                session,
                outbox=self.outbox,
                result_id=result_id,
                owner=self.owner,
                max_attempts=self.max_attempts,
                lease_margin_s=self.lease_margin_s,
            )
        if claimed is None:
            return
        started = time.perf_counter()
        result = await self._run_leased(claimed)
        self.metrics.grading_seconds.labels(result.outcome).observe(time.perf_counter() - started)
        self.metrics.outcomes.labels(result.outcome).inc()
        if result.outcome == "internal_error" and not result.assignment_error:
            self.metrics.sandbox_failures.inc()
            log.error("regrade_preview.internal_error", result_id=result_id, message=result.message)
            await self._release(result_id, republish=True)
            return
        async with transaction(self.session_factory) as session:
            stored = await preview_runs.record_preview_result(
                session,
                outbox=self.outbox,
                result_id=result_id,
                owner=self.owner,
                attempt=claimed.attempts,
                result=result,
            )
        if stored is None:
            log.warning("regrade_preview.lease_lost", result_id=result_id)

    async def _run_leased(self, claimed: PreviewResult) -> RunResult:
        assignment = claimed.submission.assignment
        spec = RunSpec(
            files=assignment.grading_files(claimed.submission.code),
            module=assignment.module,
            test_ids=tuple(assignment.test_ids),
            time_limit_s=assignment.time_limit_s,
            memory_mb=assignment.memory_mb,
            output_limit_bytes=self.output_limit_bytes,
        )
        renewal = asyncio.create_task(self._keep_lease(claimed.id, assignment.time_limit_s))
        try:
            async with self.turns.hold(priority=PRIORITY_BULK):
                return await self.sandbox.run(spec)
        finally:
            renewal.cancel()
            with suppress(asyncio.CancelledError):
                await renewal

    async def _keep_lease(self, result_id: int, time_limit_s: float) -> None:
        seconds = time_limit_s + self.lease_margin_s
        renew = partial(
            preview_runs.renew_preview_lease, result_id=result_id, owner=self.owner, seconds=seconds
        )
        await keep_lease(
            self.session_factory,
            renew,
            every_s=self.lease_margin_s / 3,
            failure_event="regrade_preview.lease_renewal_failed",
            result_id=result_id,
        )

    async def _release(self, result_id: int, *, republish: bool) -> None:
        try:
            async with transaction(self.session_factory) as session:
                await preview_runs.release_preview_result(
                    session,
                    outbox=self.outbox,
                    result_id=result_id,
                    owner=self.owner,
                    republish=republish,
                )
        except Exception:
            log.exception("regrade_preview.release_failed", result_id=result_id)

    async def recover(self) -> None:
        """Embedded start: take back runs of the dead process and publish queued results."""
        async with transaction(self.session_factory) as session:
            requeued = await preview_runs.requeue_abandoned_results(session)
            pending = await preview_runs.results_to_publish(session)
        if requeued:
            log.warning("regrade_preview.recovered", requeued=requeued)
        await preview_runs.publish_preview_jobs(self.outbox, pending)

    async def sweep(self, *, unpublished_for: dt.timedelta) -> int:
        """Publish preview results that lost their job; close regrades with nothing left."""
        async with transaction(self.session_factory) as session:
            lost = await preview_runs.lost_results(session, unpublished_for=unpublished_for)
            await preview_runs.finish_idle_previews(session, outbox=self.outbox)
            await close_finished_direct_regrades(session)
        if not lost:
            return 0
        sent = await preview_runs.publish_preview_jobs(self.outbox, lost)
        self.metrics.republished.inc(sent)
        log.info("regrade_preview.swept", republished=sent)
        return sent
