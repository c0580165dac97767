"""Where a student's queued submission stands: its position and an estimated wait, live.

One watch per web process, not one per page: while any event stream of the process
is open, it reads the head of the interactive queue every ``interval_s`` — the
first ``head_limit`` submissions that are queued and not being regraded, by id,
which is the order the grading queue serves them (interactive jobs go first, in the
order they were published) — and each stream sends its own student's place when it
changed. So a surge costs one small indexed read a second per web process, however
many students wait. The estimate is the queue's own recent pace: how many
submissions left the head over the last minute.

A submission claimed by a grader ahead of a free sandbox slot has left the queue
here; its page hears the rest from the run's progress events (``grading.progress``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.events.service import format_transient
from gradeflow.grading.models import Submission
from gradeflow.grading.verdicts import SubmissionStatus

log = structlog.get_logger(__name__)

QUEUE_EVENT = "queue"
INTERVAL_S = 1.0
# Students further back than this see "queued" without a number.
HEAD_LIMIT = 1000
# The pace is measured over this much of the recent past...
WINDOW_S = 60.0
# ...and over no less than this, so one start seen just after the watch began does not
# promise a wait of a fraction of a second.
MIN_SPAN_S = 5.0


@dataclass(frozen=True)
class QueuePlace:
    """A queued submission's place: ``position`` 1 is the next to start."""

    submission_id: int
    position: int
    eta_s: int | None  # None until the queue has been seen to move

    def sse(self) -> str:
        data = {
            "type": QUEUE_EVENT,
            "submission_id": self.submission_id,
            "position": self.position,
            "eta_s": self.eta_s,
        }
        return format_transient(QUEUE_EVENT, json.dumps(data, separators=(",", ":")))


async def queue_head(session: AsyncSession, *, limit: int) -> list[tuple[int, int]]:
    """(submission id, user id) of the first ``limit`` queued interactive submissions."""
    rows = await session.execute(
        select(Submission.id, Submission.user_id)
        .where(Submission.status == SubmissionStatus.queued, Submission.regrading.is_(False))
        .order_by(Submission.id)
        .limit(limit)
    )
    return [(submission_id, user_id) for submission_id, user_id in rows]


def estimate_wait(position: int, per_second: float | None) -> int | None:
    """Seconds until a submission at ``position`` starts, at ``per_second`` starts a
    second; rounded so the page does not change its mind every second."""
    if not per_second:
        return None
    seconds = position / per_second
    return max(1, round(seconds)) if seconds < 60 else round(seconds / 10) * 10


class QueuePace:
    """How many submissions a second leave the queue, over the last ``window_s``."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._previous: set[int] | None = None
        self._since = 0.0
        self._left: collections.deque[tuple[float, int]] = collections.deque()

    def observe(self, now: float, head: set[int]) -> None:
        """The queue's head at ``now``: ids gone from it since the last look have left."""
        if self._previous is None:
            self._since = now
        else:
            self._left.append((now, len(self._previous - head)))
        self._previous = head
        while self._left and self._left[0][0] < now - self.window_s:
            self._left.popleft()

    def per_second(self, now: float) -> float | None:
        span = max(MIN_SPAN_S, min(self.window_s, now - self._since))
        left = sum(count for _, count in self._left)
        return left / span if left else None


class QueueWatch:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        interval_s: float = INTERVAL_S,
        head_limit: int = HEAD_LIMIT,
    ) -> None:
        self.session_factory = session_factory
        self.interval_s = interval_s
        self.head_limit = head_limit
        self._watchers: collections.Counter[int] = collections.Counter()
        self._places: dict[int, QueuePlace] = {}  # by user id
        self._pace = QueuePace()
        self._refreshed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def watch(self, user_id: int) -> AsyncIterator[AsyncIterator[str]]:
        """SSE text of the user's place in the queue, each time it changed."""
        self._watchers[user_id] += 1
        if self._task is None or self._task.done():
            self._pace = QueuePace()  # nobody watched: the old pace is stale
            self._task = asyncio.create_task(self._watch_forever(), name="queue-watch")
        try:
            yield self._places_of(user_id)
        finally:
            self._watchers[user_id] -= 1
            if self._watchers[user_id] <= 0:
                del self._watchers[user_id]

    def place_of(self, user_id: int) -> QueuePlace | None:
        return self._places.get(user_id)

    async def _places_of(self, user_id: int) -> AsyncGenerator[str]:
        sent: QueuePlace | None = None
        while True:
            place = self._places.get(user_id)
            if place is not None and place != sent:
                yield place.sse()
            sent = place
            await self._refreshed.wait()

    async def _watch_forever(self) -> None:
        # Ends once no stream of this process is open (the next stream starts it again).
        while self._watchers:
            try:
                await self.refresh()
            except Exception as exc:  # the database is away: try again next time
                log.warning("queue_watch.failed", error=str(exc))
            await asyncio.sleep(self.interval_s)

    async def refresh(self) -> None:
        """Read the queue's head once and wake every stream waiting for it."""
        async with self.session_factory() as session:
            head = await queue_head(session, limit=self.head_limit)
        now = time.monotonic()
        self._pace.observe(now, {submission_id for submission_id, _ in head})
        per_second = self._pace.per_second(now)
        self._places = {
            user_id: QueuePlace(submission_id, index + 1, estimate_wait(index + 1, per_second))
            for index, (submission_id, user_id) in enumerate(head)
            if user_id in self._watchers
        }
        refreshed, self._refreshed = self._refreshed, asyncio.Event()
        refreshed.set()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
