"""Grader slots: take jobs from the queue, run the sandbox, record the result.

Each job is acknowledged only after its outcome is committed, so a crash at any
point leaves either a redelivery or an expired lease for the sweeper; the claim
rule makes a second delivery of a job harmless (BRIEF section 3).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import time
import uuid
from dataclasses import dataclass
from functools import partial

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import transaction
from gradeflow.events.service import prune_events
from gradeflow.grading import runs, service
from gradeflow.grading.check_runner import SolutionChecker
from gradeflow.grading.messages import (
    GRADING_QUEUE,
    MalformedJob,
    PreviewJob,
    SolutionCheckJob,
    decode_job,
    grading_priority,
)
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.preview_worker import PreviewGrader
from gradeflow.grading.progress import live_progress
from gradeflow.grading.run_writer import RunWriter
from gradeflow.grading.runs import RunRecord
from gradeflow.grading.sandbox import RunSpec, Sandbox
from gradeflow.infra.queue import Delivery, JobQueue, settle
from gradeflow.infra.slots import PriorityGate, SlotPool
from gradeflow.metrics import Metrics

log = structlog.get_logger(__name__)

# A queued row is re-published only when its publish failed and it is this old,
# so the sweeper never races the request that is about to publish it.
UNPUBLISHED_GRACE = dt.timedelta(seconds=3)

# How long a group of claims and results may wait for more while the sandbox has work
# ready (``RunWriter.hold``): bounds the latency it adds at saturation.
GROUP_LINGER_S = 0.1


def new_lease_owner() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class GraderConfig:
    slots: int
    max_attempts: int
    lease_margin_s: float
    output_limit_bytes: int
    sweep_interval_s: float
    # Jobs claimed ahead of a free sandbox slot, so that claiming and recording
    # overlap the runs and share groups (see ``RunWriter``).
    claim_ahead: int = 0
    # Let groups gather while ``slots`` claimed runs wait for a sandbox slot (needs
    # claim_ahead > slots to form groups larger than the claims in flight).
    group_linger_s: float = 0.0


class Grader:
    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        queue: JobQueue,
        outbox: Outbox,
        sandbox: Sandbox,
        config: GraderConfig,
        metrics: Metrics,
    ) -> None:
        self.session_factory = session_factory
        self.queue = queue
        self.outbox = outbox
        self.sandbox = sandbox
        self.config = config
        self.metrics = metrics
        self.owner = new_lease_owner()
        # Runs claimed ahead wait here for a slot, a submission before a regrade, a
        # preview or a check (not in claim order, which would put one behind the bulk
        # jobs claimed before it); the sandbox is given no more runs at once than it
        # has slots.
        self._turns = PriorityGate(config.slots)
        self.previews = PreviewGrader(
            session_factory=session_factory,
            outbox=outbox,
            sandbox=sandbox,
            turns=self._turns,
            metrics=metrics,
            owner=self.owner,
            max_attempts=config.max_attempts,
            lease_margin_s=config.lease_margin_s,
            output_limit_bytes=config.output_limit_bytes,
        )
        self.checks = SolutionChecker(
            session_factory=session_factory,
            outbox=outbox,
            sandbox=sandbox,
            turns=self._turns,
            owner=self.owner,
            max_attempts=config.max_attempts,
            lease_margin_s=config.lease_margin_s,
            output_limit_bytes=config.output_limit_bytes,
        )
        self.writer = RunWriter(
            session_factory=session_factory,
            outbox=outbox,
            owner=self.owner,
            max_attempts=config.max_attempts,
            lease_margin_s=config.lease_margin_s,
            hold=self._sandbox_has_work_ready,
            linger_s=config.group_linger_s,
        )
        # Claimed runs not yet finished in the sandbox (running or waiting for a slot).
        self._unfinished_runs = 0
        # The leases of this process's runs in flight, renewed together: id -> seconds.
        self._leases: dict[int, float] = {}
        # Runs the last renewal did not renew while still in flight here (see
        # renew_leases_once).
        self._missed_renewal: set[int] = set()
        self._renewer: asyncio.Task[None] | None = None
        self._pool = SlotPool(
            name="grading",
            queue=queue,
            queue_name=GRADING_QUEUE,
            slots=config.slots + config.claim_ahead,
            handle=self.handle,
            sweep=self.sweep,
            sweep_interval_s=config.sweep_interval_s,
        )

    async def start(self, *, recover: bool) -> None:
        """Start the slots and the sweeper.

        ``recover`` (embedded mode only: this is the only grading process) requeues
        runs left ``running`` by a previous process and publishes every queued row.
        """
        if recover:
            async with transaction(self.session_factory) as session:
                requeued = await service.requeue_abandoned(session)
                pending = await service.submissions_to_publish(session)
                groups = await service.by_priority(session, pending)
            if requeued:
                log.warning("grading.recovered", requeued=requeued)
            # Interactive first, and a regrade backlog at its own (bulk) priority.
            for priority in sorted(groups, reverse=True):
                await self.outbox.publish(groups[priority], priority=priority)
            await self.checks.recover()
            await self.previews.recover()
        self._pool.start()
        self._renewer = asyncio.create_task(self._renew_leases_forever(), name="grading-leases")
        log.info("grader.started", slots=self.config.slots, owner=self.owner)

    async def stop(self, *, grace_s: float = 0.0) -> None:
        """Stop taking jobs; let runs in flight finish for ``grace_s``, then release them."""
        await self._pool.stop(grace_s=grace_s)
        await self.writer.close()
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)

    async def handle(self, delivery: Delivery) -> None:
        try:
            job = decode_job(delivery.body)
        except MalformedJob as exc:
            # Poison: dead-lettered for operators instead of retried forever.
            log.error("grading.malformed_job", error=str(exc))
            await delivery.reject(requeue=False)
            return
        if isinstance(job, PreviewJob):
            await self.previews.handle(delivery, job)
        elif isinstance(job, SolutionCheckJob):
            await self.checks.handle(delivery, job)
        else:
            await settle(
                delivery,
                run=partial(self.grade, job.submission_id),
                release=partial(self._release, job.submission_id, republish=False),
                failure_event="grading.job_failed",
                submission_id=job.submission_id,
            )

    async def _release(self, submission_id: int, *, republish: bool) -> None:
        """Give the run back; with ``republish`` publish its job again after the commit."""
        try:
            async with transaction(self.session_factory) as session:
                released = await service.release_submission(
                    session,
                    outbox=self.outbox,
                    submission_id=submission_id,
                    owner=self.owner,
                    republish=republish,
                )
            if released:
                log.info("grading.released", submission_id=submission_id)
        except Exception:
            log.exception("grading.release_failed", submission_id=submission_id)

    def _sandbox_has_work_ready(self) -> bool:
        """True while every sandbox slot is busy and as many claimed runs wait for one:
        a claim or a result can then wait to share a group without a slot idling."""
        return self._unfinished_runs >= 2 * self.config.slots

    async def _renew_leases_forever(self) -> None:
        """Every third of the margin, one statement renews every run in flight, so a
        short margin still survives a long run."""
        every_s = self.config.lease_margin_s / 3
        while True:
            await asyncio.sleep(every_s)
            await self.renew_leases_once()

    async def renew_leases_once(self) -> None:
        """Renew the leases of the runs in flight; a lease found lost is renewed no more
        (its result will not be stored). A failed renewal is tried again next time.

        A run whose result was committed while the renewal ran is not renewed either,
        and is still in flight here until its ``grade`` returns: under load that made
        one false "lease lost" every few renewals. So a lease counts as lost only when
        two renewals in a row miss it (a finished run is gone by the second)."""
        leases = dict(self._leases)
        if not leases:
            self._missed_renewal.clear()
            return
        try:
            async with transaction(self.session_factory) as session:
                renewed = await runs.renew_leases(session, owner=self.owner, leases=leases)
        except Exception as exc:
            log.warning("grading.lease_renewal_failed", error=str(exc), runs=len(leases))
            return
        missed = {i for i in leases.keys() - renewed if i in self._leases}
        for submission_id in missed & self._missed_renewal:
            log.warning("grading.lease_lost", submission_id=submission_id)
            self._leases.pop(submission_id, None)
        self._missed_renewal = missed - self._missed_renewal

    async def grade(self, submission_id: int) -> None:
        """Claim, run and record one submission; a no-op if it is not claimable."""
        submission = await self.writer.claim(submission_id)
        if submission is None:
            return
        self._leases[submission_id] = (
            submission.assignment.time_limit_s + self.config.lease_margin_s
        )
        try:
            await self._grade_claimed(submission)
        finally:
            self._leases.pop(submission_id, None)

    async def _grade_claimed(self, submission: Submission) -> None:
        priority = grading_priority(regrading=submission.regrading)
        self._unfinished_runs += 1
        try:
            # Closed before the result is recorded: no progress can follow the verdict.
            place = self._turns.place(priority)
            async with (
                live_progress(self.outbox.pubsub, submission, ahead=place.ahead) as progress,
                place.hold(),
            ):
                started = time.perf_counter()
                result = await self.sandbox.run(self._spec(submission), on_progress=progress.update)
                seconds = time.perf_counter() - started
        finally:
            self._unfinished_runs -= 1
            self.writer.nudge()
        self.metrics.grading_seconds.labels(result.outcome).observe(seconds)
        self.metrics.outcomes.labels(result.outcome).inc()
        if result.outcome == "internal_error" and not result.assignment_error:
            # Our failure, not the student's: release, and let another attempt try. A
            # run that reached the grader's own limits would again: it is recorded as
            # an error with its message below.
            self.metrics.sandbox_failures.inc()
            log.error("grading.internal_error", submission_id=submission.id, message=result.message)
            await self._release(submission.id, republish=True)
            return
        record = RunRecord(submission.id, submission.generation, result, submission.assignment)
        stored = await self.writer.record(record)
        if stored is None:
            log.warning("grading.lease_lost", submission_id=submission.id)
            return
        log.info(
            "submission.graded",
            id=submission.id,
            status=stored.status.value,
            outcome=result.outcome,
            ms=round(seconds * 1000),
        )

    def _spec(self, submission: Submission) -> RunSpec:
        assignment = submission.assignment
        return RunSpec(
            files=assignment.grading_files(submission.code),
            module=assignment.module,
            test_ids=tuple(assignment.test_ids),
            time_limit_s=assignment.time_limit_s,
            memory_mb=assignment.memory_mb,
            output_limit_bytes=self.config.output_limit_bytes,
        )

    async def sweep(self) -> int:
        """Publish work that lost its message: failed publishes and expired leases."""
        checks_sent = await self.checks.sweep()
        previews = await self.previews.sweep(unpublished_for=UNPUBLISHED_GRACE)
        async with transaction(self.session_factory) as session:
            expired = await service.expired_leases(session)
            unpublished = await service.unpublished_submissions(
                session, older_than=UNPUBLISHED_GRACE
            )
            await prune_events(session)
            groups = await service.by_priority(session, sorted(set(expired) | set(unpublished)))
        if not groups:
            return checks_sent + previews
        sent = 0
        for priority in sorted(groups, reverse=True):
            sent += await self.outbox.publish(groups[priority], priority=priority)
        self.metrics.republished.inc(sent)
        log.info(
            "grading.swept", republished=sent, expired=len(expired), unpublished=len(unpublished)
        )
        return sent + checks_sent + previews
