"""Claims and results of one grader process, written in groups (group commit).

Like the submit intake: a claim or a result that arrives while no group is being
written is written at once, alone; those that arrive while a group's unit of work
runs wait for it and share the next one (``runs.write_runs``: a few set-based
statements, one commit, one announcement).
Each caller is answered only after its group committed, exactly as if alone: a claim
gets its submission or None, a result its stored submission or None.

Under load that alone forms few groups: a run is longer than a write, so the writer
is idle when most claims and results arrive. So a group may also *linger*: while the
grader says it can wait (``hold``: its sandbox slots have claimed work ready, so no
slot idles meanwhile), the writer lets claims and results gather, up to ``linger_s``
or ``max_group``. At idle ``hold`` is false and each is written at once, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import AfterCommit, run_follow_ups, unit_of_work
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.runs import AssignmentCache, RunRecord, write_runs

log = structlog.get_logger(__name__)

# Bounds one statement's IN list and CASE; a grader has far fewer runs in flight.
MAX_GROUP = 100

Answer = asyncio.Future[Submission | None]


@dataclass
class _Group:
    claims: dict[int, Answer] = field(default_factory=dict)
    records: dict[int, tuple[RunRecord, Answer]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.claims) + len(self.records)

    def fail(self, exc: Exception) -> None:
        for future in [*self.claims.values(), *(f for _, f in self.records.values())]:
            if not future.done():
                future.set_exception(exc)


@dataclass
class RunWriter:
    session_factory: async_sessionmaker[AsyncSession]
    outbox: Outbox
    owner: str
    max_attempts: int
    lease_margin_s: float
    max_group: int = MAX_GROUP
    on_group: Callable[[int], None] | None = None  # sizes, for tests
    # May the next group wait for more members? (None: never.) Asked again at each
    # arrival and ``nudge``; a group waits ``linger_s`` at most.
    hold: Callable[[], bool] | None = None
    linger_s: float = 0.0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _closing: bool = False
    _claims: list[tuple[int, Answer]] = field(default_factory=list)
    _records: list[tuple[RunRecord, Answer]] = field(default_factory=list)
    _writer: asyncio.Task[None] | None = None
    _assignments: AssignmentCache = field(default_factory=AssignmentCache)

    async def claim(self, submission_id: int) -> Submission | None:
        """The claimed submission once committed, or None (``runs.claim_submissions``)."""
        future = self._future()
        self._claims.append((submission_id, future))
        self.nudge()
        return await self._answer(future)

    async def record(self, record: RunRecord) -> Submission | None:
        """The stored submission once committed, or None if the lease was lost."""
        future = self._future()
        self._records.append((record, future))
        self.nudge()
        return await self._answer(future)

    def nudge(self) -> None:
        """Something changed (an arrival, a run ended): a lingering group looks again."""
        self._arrived.set()

    async def close(self) -> None:
        """Let the group being written finish (its runs' outcomes are not to be lost)."""
        self._closing = True
        self.nudge()
        if self._writer is not None:
            await asyncio.shield(self._writer)

    def _future(self) -> Answer:
        return asyncio.get_running_loop().create_future()

    async def _answer(self, future: Answer) -> Submission | None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_while_waiting())
        # A cancelled caller (shutting down) does not cancel its group: the others in
        # it still need their answers. It waits for the group's commit before it goes,
        # so that the release that follows finds the lease it may have taken.
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise

    def _next_group(self) -> _Group:
        """The longest-waiting claims and results, each submission at most once in
        each kind (a duplicate delivery's claim goes with a later group, where the
        claim rule refuses it)."""
        group = _Group()
        later_claims = []
        for submission_id, future in self._claims:
            if len(group) >= self.max_group or submission_id in group.claims:
                later_claims.append((submission_id, future))
            else:
                group.claims[submission_id] = future
        later_records = []
        for record, future in self._records:
            if len(group) >= self.max_group or record.submission_id in group.records:
                later_records.append((record, future))
            else:
                group.records[record.submission_id] = (record, future)
        self._claims, self._records = later_claims, later_records
        return group

    def _waiting(self) -> int:
        return len(self._claims) + len(self._records)

    def _may_wait(self) -> bool:
        return (
            not self._closing
            and self.hold is not None
            and self._waiting() < self.max_group
            and self.hold()
        )

    async def _linger(self) -> None:
        """Let the next group gather while the grader can wait, ``linger_s`` at most."""
        if self.linger_s <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.linger_s
        while self._may_wait():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    async def _write_while_waiting(self) -> None:
        while self._claims or self._records:
            await self._linger()
            group = self._next_group()
            if self.on_group is not None:
                self.on_group(len(group))
            try:
                await self._write(group)
            except Exception as exc:
                if len(group) == 1:
                    group.fail(exc)
                    continue
                # Alone, only the member that cannot be written fails (its caller
                # logs it and hands its job back).
                log.warning("grading.group_failed", size=len(group), error=str(exc))
                for alone in _split(group):
                    try:
                        await self._write(alone)
                    except Exception as alone_exc:
                        alone.fail(alone_exc)

    async def _write(self, group: _Group) -> None:
        follow_ups: list[AfterCommit] = []
        async with unit_of_work(self.session_factory, follow_ups) as session:
            stored, claimed = await write_runs(
                session,
                outbox=self.outbox,
                owner=self.owner,
                records=[record for record, _ in group.records.values()],
                claims=list(group.claims),
                max_attempts=self.max_attempts,
                lease_margin_s=self.lease_margin_s,
                assignments_read=self._assignments,
            )
        # Committed: a claimed run may start while the announcements and purges go out
        # (two pub/sub round trips that held up every run, PERFORMANCE.md).
        # Interactive runs are answered first: a run answered earlier reaches the
        # grader's gate earlier and may take a free slot before a submission answered
        # after it in the same group (the gate orders only the runs already waiting).
        answers = sorted(
            (
                (future, claimed.get(submission_id))
                for submission_id, future in group.claims.items()
            ),
            key=lambda answer: answer[1] is not None and answer[1].regrading,
        )
        for future, submission in answers:
            _answer(future, submission)
        await run_follow_ups(follow_ups)
        # A result is answered (and its job acked) only once its event is announced.
        for submission_id, (_, future) in group.records.items():
            _answer(future, stored.get(submission_id))


def _split(group: _Group) -> list[_Group]:
    alone = [_Group(claims={i: f}) for i, f in group.claims.items()]
    return alone + [_Group(records={i: r}) for i, r in group.records.items()]


def _answer(future: Answer, value: Submission | None) -> None:
    if not future.done():
        future.set_result(value)
