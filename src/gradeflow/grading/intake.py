"""Submits of one process, written in groups (group commit).

A submit that arrives while no group is being written is written at once, alone; the
submits that arrive while a group's unit of work runs wait for it and are written
together in the next one. At idle nothing waits for company; under load one
transaction, one insert of submissions and one of events carry many submits, and so
does the publish of their jobs. Each submit is still answered only after its row is
committed and its job published, as if alone.

The next group's transaction starts as soon as the previous one has committed: the
previous group's follow-ups (publishing its jobs, marking them published, waking the
streams) run meanwhile, a few groups at most. Written one after the other, a group
waited for every round trip of the one before it, each a turn of a busy event loop:
with 200 students that made a submit wait ~10 s (PERFORMANCE.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import after_commit, transaction
from gradeflow.errors import Conflict
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.service import SubmitRequest, describe_submission, submit_group

log = structlog.get_logger(__name__)

# Enough to amortise a transaction; bounded so one group's statement stays small
# (13 bind parameters a row: well within SQLite's and PostgreSQL's limits).
MAX_GROUP = 200
# Groups committed and still running their follow-ups; bounded so a slow broker slows
# the intake down instead of piling up groups.
MAX_GROUPS_IN_FLIGHT = 4

Described = dict[str, Any]
Waiter = tuple[SubmitRequest, "asyncio.Future[Described]"]


@dataclass
class SubmissionIntake:
    session_factory: async_sessionmaker[AsyncSession]
    outbox: Outbox
    max_group: int = MAX_GROUP
    on_group: Callable[[int], None] | None = None  # sizes, for metrics and tests
    max_groups_in_flight: int = MAX_GROUPS_IN_FLIGHT
    _waiting: list[Waiter] = field(default_factory=list)
    _writer: asyncio.Task[None] | None = None
    _in_flight: set[asyncio.Task[None]] = field(default_factory=set)

    async def submit(self, request: SubmitRequest) -> Described:
        """The submission as ``describe_submission`` tells it, once committed and its
        job published; Conflict if the student has one pending already."""
        future: asyncio.Future[Described] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_while_waiting())
        # A cancelled request (the client went away) does not cancel its group.
        return await asyncio.shield(future)

    async def close(self) -> None:
        """Let the groups being written finish (a shutdown must not lose an accepted submit)."""
        await self.settled()

    async def settled(self) -> None:
        """Wait until every submit accepted so far is written and its follow-ups have run
        (answers go out before the last of them: the mark that its job was published)."""
        if self._writer is not None:
            await asyncio.shield(self._writer)
        while self._in_flight:
            await asyncio.shield(asyncio.gather(*self._in_flight, return_exceptions=True))

    async def _write_while_waiting(self) -> None:
        while self._waiting:
            while len(self._in_flight) >= self.max_groups_in_flight:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            group = self._next_group()
            if self.on_group is not None:
                self.on_group(len(group))
            committed = asyncio.Event()
            writing = asyncio.create_task(self._write_group(group, committed))
            self._in_flight.add(writing)
            writing.add_done_callback(self._in_flight.discard)
            # The next group goes once this one is committed (or has failed): one
            # transaction at a time keeps a student's later submit behind the earlier.
            signalled = asyncio.create_task(committed.wait())
            await asyncio.wait({writing, signalled}, return_when=asyncio.FIRST_COMPLETED)
            signalled.cancel()

    async def _write_group(self, group: list[Waiter], committed: asyncio.Event) -> None:
        try:
            await self._write(group, committed)
        except IntegrityError:
            # A row the group relies on went away meanwhile (a user or an
            # assignment deleted): alone, only the submit that needed it fails.
            for waiter in group:
                await self._write_guarded([waiter])
        except Exception as exc:
            _fail(group, exc)

    def _next_group(self) -> list[Waiter]:
        """The longest-waiting submits, one per student (a student's second submit
        goes with a later group, where the one-pending rule judges it)."""
        group: list[Waiter] = []
        later: list[Waiter] = []
        students: set[int] = set()
        for waiter in self._waiting:
            student = waiter[0].user_id
            if student in students or len(group) >= self.max_group:
                later.append(waiter)
            else:
                students.add(student)
                group.append(waiter)
        self._waiting = later
        return group

    async def _write_guarded(self, group: list[Waiter]) -> None:
        try:
            await self._write(group)
        except Exception as exc:
            _fail(group, exc)

    async def _write(self, group: list[Waiter], committed: asyncio.Event | None = None) -> None:
        answers: list[Described | Conflict] = []

        def answer() -> None:
            for (_, future), outcome in zip(group, answers, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, Conflict):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

        async with transaction(self.session_factory) as session:
            if committed is not None:
                # The first follow-up: the others (publish, wake-ups) may take a while.
                after_commit(session, partial(_signal, committed))
            outcomes = await submit_group(
                session,
                outbox=self.outbox,
                requests=[request for request, _ in group],
                on_published=answer,
            )
            answers = [
                outcome if isinstance(outcome, Conflict) else describe_submission(outcome)
                for outcome in outcomes
            ]
        # Committed, and the jobs published (answered then already, unless no job was
        # to be: a reused result, a conflict); the follow-ups have run.
        answer()


async def _signal(event: asyncio.Event) -> None:
    event.set()


def _fail(group: list[Waiter], exc: BaseException) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(exc)
