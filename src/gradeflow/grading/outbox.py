"""What follows a committed change to submissions: grading jobs and stream wake-ups.

Service functions register these with ``Outbox`` inside their unit of work; they run
once it commits (``db.after_commit``), never when it rolls back. So a grader always
finds the row a job names, and a stream is woken only for a change that happened.
Each follow-up is best effort: a job whose publish failed stays unpublished for the
sweeper, and a stream that missed its wake-up catches up at its next one. (Cached
reads are purged by the event rows themselves: ``gradeflow.purges``.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import structlog
from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import after_commit, transaction, utcnow
from gradeflow.events.service import wake_ups
from gradeflow.grading.messages import GRADING_QUEUE, GradeJob
from gradeflow.grading.models import Submission
from gradeflow.infra.pubsub import PubSub, publish_after_commit
from gradeflow.infra.queue import JobQueue

log = structlog.get_logger(__name__)

# The users a unit of work has announced so far: one follow-up per unit of work,
# however many of their submissions it changed.
_ANNOUNCED = "gradeflow.announced_users"


@dataclass(frozen=True)
class Outbox:
    queue: JobQueue
    pubsub: PubSub
    session_factory: async_sessionmaker[AsyncSession]

    def grade_after_commit(
        self,
        session: AsyncSession,
        submission_ids: list[int],
        *,
        priority: int,
        on_confirmed: Callable[[], None] | None = None,
    ) -> None:
        """Publish a grading job for each submission once ``session`` commits;
        ``on_confirmed`` is called once the broker has them, before they are marked
        published (a transaction of its own that an answer need not wait for)."""
        if submission_ids:
            publish = partial(
                self.publish, list(submission_ids), priority=priority, on_confirmed=on_confirmed
            )
            after_commit(session, publish)

    def announce_after_commit(self, session: AsyncSession, user_ids: Iterable[int]) -> None:
        """Wake the users' event streams once ``session`` commits."""
        announced: set[int] | None = session.info.get(_ANNOUNCED)
        if announced is None:
            announced = session.info[_ANNOUNCED] = set()
            # With the unit's cache purge, after it: one round trip for both.
            publish_after_commit(session, self.pubsub, partial(wake_ups, announced))
        announced.update(user_ids)

    async def publish(
        self,
        submission_ids: list[int],
        *,
        priority: int,
        on_confirmed: Callable[[], None] | None = None,
    ) -> int:
        """Publish jobs and mark them published; returns how many made it.

        A failure leaves the rest unpublished for the sweeper; it never raises.
        """
        bodies = [GradeJob(submission_id).encode() for submission_id in submission_ids]
        confirmed = await self.queue.publish_many(GRADING_QUEUE, bodies, priority=priority)
        published = submission_ids[:confirmed]
        if confirmed < len(submission_ids):
            log.warning("grading.publish_deferred", pending=len(submission_ids) - confirmed)
        if on_confirmed is not None:
            on_confirmed()
        if published:
            try:
                async with transaction(self.session_factory) as session:
                    await _mark_published(session, submission_ids=published)
            except Exception:
                # Unmarked rows are only published once more by the sweeper: harmless.
                log.exception("grading.mark_published_failed")
        return len(published)


# Built and compiled once: the ids are bound when it runs, not coerced one by one into
# a new statement for each group (a seventh of a submit group's CPU, PERFORMANCE.md).
_MARK_PUBLISHED = (
    update(Submission)
    .where(Submission.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


async def _mark_published(session: AsyncSession, *, submission_ids: list[int]) -> None:
    await session.execute(_MARK_PUBLISHED, {"ids": submission_ids, "now": utcnow()})
