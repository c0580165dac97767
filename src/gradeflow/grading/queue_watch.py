"""Where a student's queued submission stands: its position and an estimated wait, live.

One watch per web process, not one per page: while any event stream of the process
is open, it asks the database every ``interval_s`` for the place of each watching
student's queued submission (at most one each: one pending submission per student)
— one statement for all of them, whose position is its rank in the interactive
queue as graders serve it: queued, not being regraded, by ``queued_at`` (when its
job joined the queue: a released run's job rejoins at the tail, so its small id
does not put it first), then id. Every waiting student gets a place however long
the queue, and a surge costs the process two reads a second over the queue's
partial index, however many students wait. Ranking is linear in the queue's length
(bench/queue_watch.py: tens of milliseconds at 10,000 queued, hundreds at 50,000 on
a loaded machine), so a watch whose look took long looks less often: reading takes
at most a tenth of its time.

The estimate is the queue's own recent pace: how many submissions left it over the
last minute — those counted at the previous look, up to the newest of them, that are
no longer queued. A submission claimed by a grader ahead of a free sandbox slot has
left the queue (its page hears the rest from the run's progress events,
``grading.progress``), but it has not run yet: graders hold up to sixteen such runs a
slot, and each starts before any still queued. So the wait counts the interactive
runs claimed and not yet recorded as ahead too — the queue's pace is the pace at which
graders take runs, which is the pace at which they finish them once their hands are
full. Runs in a slot at the moment are counted as well, so the estimate errs long by
at most one run a slot.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from sqlalchemy import case, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.events.service import format_transient
from gradeflow.grading.models import INTERACTIVE_QUEUE_PREDICATE, Submission
from gradeflow.grading.verdicts import SubmissionStatus

log = structlog.get_logger(__name__)

QUEUE_EVENT = "queue"
INTERVAL_S = 1.0
# A long queue makes each look slower (it ranks the whole queue): the watch then looks
# less often, so that reading takes at most this share of its time.
MAX_READ_SHARE = 0.1
# Watching students asked about in one statement (bound parameters have a limit).
USERS_PER_READ = 5000
# The pace is measured over this much of the recent past...
WINDOW_S = 60.0
# ...and over no less than this, so one start seen just after the watch began does not
# promise a wait of a fraction of a second.
MIN_SPAN_S = 5.0
# The same text as the partial index's predicate, so both databases use the index.
_INTERACTIVE_QUEUE = text(INTERACTIVE_QUEUE_PREDICATE)


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


async def queue_places(
    session: AsyncSession, *, user_ids: Collection[int]
) -> list[tuple[int, int, int]]:
    """(submission id, user id, position) of the users' queued interactive submissions,
    position 1 being the next a grader takes (see the module doc for the order)."""
    ranked = (
        select(
            Submission.id,
            Submission.user_id,
            func.row_number()
            .over(order_by=(Submission.queued_at, Submission.id))
            .label("position"),
        )
        .where(_INTERACTIVE_QUEUE)
        .subquery()
    )
    users = sorted(user_ids)
    places: list[tuple[int, int, int]] = []
    for start in range(0, len(users), USERS_PER_READ):
        rows = await session.execute(
            select(ranked.c.id, ranked.c.user_id, ranked.c.position).where(
                ranked.c.user_id.in_(users[start : start + USERS_PER_READ])
            )
        )
        places.extend((int(i), int(u), int(p)) for i, u, p in rows)
    return places


@dataclass(frozen=True)
class QueueTally:
    """The interactive queue at one look: its length, its newest entry, how many
    entries no newer than ``up_to`` (the newest at the look before) are still in it,
    and how many interactive runs graders have claimed and not yet recorded."""

    total: int
    newest: dt.datetime | None
    kept: int
    claimed: int


async def queue_tally(session: AsyncSession, *, up_to: dt.datetime | None) -> QueueTally:
    kept = (
        func.coalesce(func.sum(case((Submission.queued_at <= up_to, 1), else_=0)), 0)
        if up_to is not None
        else literal(0)
    )
    # Few rows (what graders hold), found by the status index.
    claimed = (
        select(func.count())
        .where(Submission.status == SubmissionStatus.running, Submission.regrading.is_(False))
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(func.count(), func.max(Submission.queued_at), kept, claimed).where(
                _INTERACTIVE_QUEUE
            )
        )
    ).one()
    total, newest, still, held = row
    return QueueTally(int(total), newest, int(still), int(held))


def estimate_wait(position: int, per_second: float | None, *, claimed: int = 0) -> int | None:
    """Seconds until a submission at ``position`` starts, behind ``claimed`` runs that
    graders hold, at ``per_second`` runs a second; rounded so the page does not change
    its mind every second."""
    if not per_second:
        return None
    seconds = (claimed + position) / per_second
    return max(1, round(seconds)) if seconds < 60 else round(seconds / 10) * 10


class QueuePace:
    """How many submissions a second leave the queue, over the last ``window_s``."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._since: float | None = None
        self._left: collections.deque[tuple[float, int]] = collections.deque()

    def observe(self, now: float, left: int) -> None:
        """``left`` submissions left the queue since the last look (the first look
        starts the clock: what it saw leave came from before)."""
        if self._since is None:
            self._since = now
        elif left > 0:
            self._left.append((now, left))
        while self._left and self._left[0][0] < now - self.window_s:
            self._left.popleft()

    def per_second(self, now: float) -> float | None:
        if self._since is None:
            return None
        span = max(MIN_SPAN_S, min(self.window_s, now - self._since))
        left = sum(count for _, count in self._left)
        return left / span if left else None


class QueueWatch:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.session_factory = session_factory
        self.interval_s = interval_s
        # The previous look at the queue, for the pace.
        self._tally: QueueTally | None = None
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
            self._tally = None
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
            started = time.monotonic()
            try:
                await self.refresh()
            except Exception as exc:  # the database is away: try again next time
                log.warning("queue_watch.failed", error=str(exc))
            took = time.monotonic() - started
            await asyncio.sleep(max(self.interval_s, took / MAX_READ_SHARE - took))

    async def refresh(self) -> None:
        """Read the watching students' places once and wake every stream waiting for them."""
        previous = self._tally
        async with self.session_factory() as session:
            tally = await queue_tally(session, up_to=previous.newest if previous else None)
            places = await queue_places(session, user_ids=list(self._watchers))
        now = time.monotonic()
        self._pace.observe(now, max(0, previous.total - tally.kept) if previous else 0)
        self._tally = tally
        per_second = self._pace.per_second(now)
        self._places = {
            user_id: QueuePlace(
                submission_id,
                position,
                estimate_wait(position, per_second, claimed=tally.claimed),
            )
            for submission_id, user_id, position in places
        }
        refreshed, self._refreshed = self._refreshed, asyncio.Event()
        refreshed.set()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
