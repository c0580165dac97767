"""Running solution checks in a grader slot: claim, run in the sandbox, record, acknowledge.

The grader (``grading.worker``) hands every solution check message to a
``SolutionChecker`` and runs its recovery and sweep beside its own, so checks share
the grading slots, the sandbox and the crash-safety rules of grading runs — and the
grader's ``PriorityGate``, at bulk priority (as their jobs are published), so a
student's submission claimed meanwhile runs first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from contextlib import suppress
from functools import partial

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.courses.service import content_spec
from gradeflow.db import transaction
from gradeflow.grading import checks
from gradeflow.grading.messages import PRIORITY_BULK, SolutionCheckJob
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.sandbox import RunResult, RunSpec, Sandbox
from gradeflow.grading.verdicts import run_spec
from gradeflow.infra.queue import Delivery, settle
from gradeflow.infra.slots import PriorityGate, keep_lease

log = structlog.get_logger(__name__)

# As for submissions: only a check this old whose publish failed is sent again, so
# the sweeper never races the request that is about to publish it.
UNPUBLISHED_GRACE = dt.timedelta(seconds=3)


class SolutionChecker:
    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        sandbox: Sandbox,
        turns: PriorityGate,
        owner: str,
        max_attempts: int,
        lease_margin_s: float,
        output_limit_bytes: int,
    ) -> None:
        self.session_factory = session_factory
        self.outbox = outbox
        self.sandbox = sandbox
        self.turns = turns
        self.owner = owner
        self.max_attempts = max_attempts
        self.lease_margin_s = lease_margin_s
        self.output_limit_bytes = output_limit_bytes

    async def handle(self, delivery: Delivery, job: SolutionCheckJob) -> None:
        """One check message, acknowledged only once its outcome is committed."""
        await settle(
            delivery,
            run=partial(self.check, job.draft_id),
            release=partial(self._release, job.draft_id, republish=False),
            failure_event="checks.job_failed",
            draft_id=job.draft_id,
        )

    async def check(self, draft_id: int) -> None:
        """Claim, run and record one check; a no-op if it is not claimable."""
        async with transaction(self.session_factory) as session:
            draft = await checks.claim_check(
                session,
                outbox=self.outbox,
                draft_id=draft_id,
                owner=self.owner,
                max_attempts=self.max_attempts,
                lease_margin_s=self.lease_margin_s,
            )
        if draft is None:
            return
        solution = content_spec(draft.content, slug="check")
        try:
            spec = run_spec(solution, solution.solution, output_limit_bytes=self.output_limit_bytes)
        except ValueError as exc:
            # Stored before saving refused such files: every attempt would fail alike, and
            # only the teacher can fix it. Recorded now (as a grader limit is), not retried.
            result = unrunnable(f"The assignment cannot be laid out for a run: {exc}.")
        else:
            result = await self._run_leased(draft_id, spec)
        if result.outcome == "internal_error" and not result.assignment_error:
            log.error("checks.internal_error", draft_id=draft_id, message=result.message)
            await self._release(draft_id, republish=True)
            return
        async with transaction(self.session_factory) as session:
            stored = await checks.record_check(
                session,
                outbox=self.outbox,
                draft_id=draft_id,
                owner=self.owner,
                generation=draft.generation,
                result=result,
            )
        if stored is None:
            log.warning("checks.lease_lost", draft_id=draft_id)
            return
        log.info("assignment.checked", draft_id=draft_id, outcome=result.outcome)

    async def _run_leased(self, draft_id: int, spec: RunSpec) -> RunResult:
        renewal = asyncio.create_task(self._keep_lease(draft_id, spec.time_limit_s))
        try:
            async with self.turns.hold(priority=PRIORITY_BULK):
                return await self.sandbox.run(spec)
        finally:
            renewal.cancel()
            with suppress(asyncio.CancelledError):
                await renewal

    async def _keep_lease(self, draft_id: int, time_limit_s: float) -> None:
        seconds = time_limit_s + self.lease_margin_s
        await keep_lease(
            self.session_factory,
            partial(checks.renew_check_lease, draft_id=draft_id, owner=self.owner, seconds=seconds),
            every_s=self.lease_margin_s / 3,
            failure_event="checks.lease_renewal_failed",
            draft_id=draft_id,
        )

    async def _release(self, draft_id: int, *, republish: bool) -> None:
        try:
            async with transaction(self.session_factory) as session:
                await checks.release_check(
                    session,
                    outbox=self.outbox,
                    draft_id=draft_id,
                    owner=self.owner,
                    republish=republish,
                )
        except Exception:
            log.exception("checks.release_failed", draft_id=draft_id)

    async def recover(self) -> None:
        """Embedded mode at start-up: requeue checks of the previous process, publish all."""
        async with transaction(self.session_factory) as session:
            waiting = await checks.requeue_abandoned_checks(session)
        await checks.publish_checks(self.outbox, waiting)

    async def sweep(self) -> int:
        """Publish checks that lost their message: expired leases and failed publishes."""
        async with transaction(self.session_factory) as session:
            lost = await checks.lost_checks(session, unpublished_for=UNPUBLISHED_GRACE)
        if not lost:
            return 0
        sent = await checks.publish_checks(self.outbox, lost)
        log.info("checks.swept", republished=sent)
        return sent


def unrunnable(message: str) -> RunResult:
    """A check that never ran because of the assignment itself; the teacher reads why."""
    return RunResult(
        outcome="internal_error",
        tests=(),
        message=f"{message} Fix it and save it again.",
        stdout="",
        stderr="",
        duration_ms=0,
        assignment_error=True,
    )
