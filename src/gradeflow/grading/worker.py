"""Grader slots: take jobs from the queue, run the sandbox, record the result.

Each job is acknowledged only after its outcome is committed, so a crash at any
point leaves either a redelivery or an expired lease for the sweeper; the claim
rule makes the second delivery of a job harmless.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import transaction
from gradeflow.events.service import notify_users, prune_events
from gradeflow.grading import service
from gradeflow.grading.messages import GRADING_QUEUE, PRIORITY_INTERACTIVE, GradeJob, MalformedJob
from gradeflow.grading.sandbox import RunSpec, Sandbox
from gradeflow.infra.pubsub import PubSub
from gradeflow.infra.queue import Delivery, JobQueue

log = structlog.get_logger(__name__)

RETRY_DELAY_S = 1.0


def new_lease_owner() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class GraderConfig:
    slots: int
    max_attempts: int
    lease_margin_s: float
    output_limit_bytes: int
    sweep_interval_s: float


async def publish_grading(queue: JobQueue, submission_ids: list[int], *, priority: int) -> None:
    for submission_id in submission_ids:
        await queue.publish(GRADING_QUEUE, GradeJob(submission_id).encode(), priority=priority)


class Grader:
    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        queue: JobQueue,
        pubsub: PubSub,
        sandbox: Sandbox,
        config: GraderConfig,
    ) -> None:
        self.session_factory = session_factory
        self.queue = queue
        self.pubsub = pubsub
        self.sandbox = sandbox
        self.config = config
        self.owner = new_lease_owner()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, *, recover: bool) -> None:
        """Start the slots and the sweeper; ``recover`` requeues runs of a dead process."""
        async with transaction(self.session_factory) as session:
            if recover:
                requeued = await service.requeue_abandoned(session)
                if requeued:
                    log.warning("grading.recovered", requeued=requeued)
            pending = await service.submissions_to_publish(session)
        await publish_grading(self.queue, pending, priority=PRIORITY_INTERACTIVE)
        for slot in range(self.config.slots):
            self._tasks.append(asyncio.create_task(self._run_slot(), name=f"grader-slot-{slot}"))
        self._tasks.append(asyncio.create_task(self._sweep_forever(), name="grading-sweeper"))
        log.info("grader.started", slots=self.config.slots, owner=self.owner, pending=len(pending))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run_slot(self) -> None:
        async for delivery in self.queue.consume(GRADING_QUEUE):
            await self.handle(delivery)

    async def handle(self, delivery: Delivery) -> None:
        try:
            job = GradeJob.decode(delivery.body)
        except MalformedJob as exc:
            log.error("grading.malformed_job", error=str(exc))
            await delivery.reject(requeue=False)
            return
        try:
            await self.grade(job.submission_id)
        except asyncio.CancelledError:
            # Shutting down mid-run: hand the job back instead of losing it.
            await asyncio.shield(self._release(job.submission_id))
            await asyncio.shield(delivery.reject(requeue=True))
            raise
        except Exception:
            log.exception("grading.job_failed", submission_id=job.submission_id)
            await asyncio.sleep(RETRY_DELAY_S)
            await delivery.reject(requeue=True)
            return
        await delivery.ack()

    async def _release(self, submission_id: int) -> None:
        try:
            async with transaction(self.session_factory) as session:
                released = await service.release_submission(
                    session, submission_id=submission_id, owner=self.owner
                )
            if released:
                log.info("grading.released", submission_id=submission_id)
        except Exception:
            log.exception("grading.release_failed", submission_id=submission_id)

    async def grade(self, submission_id: int) -> None:
        """Claim, run and record one submission; a no-op if it is not claimable."""
        async with transaction(self.session_factory) as session:
            submission = await service.claim_submission(
                session,
                submission_id=submission_id,
                owner=self.owner,
                max_attempts=self.config.max_attempts,
                lease_margin_s=self.config.lease_margin_s,
            )
            user_id = submission.user_id if submission else None
        if submission is None:
            return
        await notify_users(self.pubsub, [submission.user_id])
        assignment = submission.assignment
        spec = RunSpec(
            files=assignment.grading_files(submission.code),
            module=assignment.module,
            test_ids=tuple(assignment.test_ids),
            time_limit_s=assignment.time_limit_s,
            memory_mb=assignment.memory_mb,
            output_limit_bytes=self.config.output_limit_bytes,
        )
        started = time.perf_counter()
        result = await self.sandbox.run(spec)
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        async with transaction(self.session_factory) as session:
            if result.outcome == "internal_error":
                # Our failure, not the student's: let another attempt try.
                log.error(
                    "grading.internal_error", submission_id=submission_id, message=result.message
                )
                await service.release_submission(
                    session, submission_id=submission_id, owner=self.owner
                )
                stored = None
            else:
                stored = await service.record_result(
                    session, submission_id=submission_id, owner=self.owner, result=result
                )
        if result.outcome == "internal_error":
            await notify_users(self.pubsub, [submission.user_id])
            await publish_grading(self.queue, [submission_id], priority=PRIORITY_INTERACTIVE)
            return
        if stored is None:
            log.warning("grading.lease_lost", submission_id=submission_id)
            return
        assert user_id is not None
        await notify_users(self.pubsub, [user_id])
        log.info(
            "submission.graded",
            id=submission_id,
            status=stored.status.value,
            outcome=result.outcome,
            ms=elapsed_ms,
        )

    async def sweep(self) -> int:
        """Re-publish runs whose lease expired (their grader died); prune old events.

        The in-process queue cannot lose a published message, so queued rows need
        no re-publishing here; start-up publishes all of them once.
        """
        async with transaction(self.session_factory) as session:
            ids = await service.expired_leases(session)
            await prune_events(session)
        await publish_grading(self.queue, ids, priority=PRIORITY_INTERACTIVE)
        if ids:
            log.info("grading.swept", republished=len(ids))
        return len(ids)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("grading.sweep_failed")
