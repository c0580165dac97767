"""Submits of one process, written in groups (group commit).

A submit that arrives while no group is being written is written at once, alone; the
submits that arrive while a group's unit of work runs wait for it and are written
together in the next one. At idle nothing waits for company; under load one
transaction, one insert of submissions and one of events carry many submits, and so
does the publish of their jobs. Each submit is still answered only after its row is
committed and its job published, as if alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import transaction
from gradeflow.errors import Conflict
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.service import SubmitRequest, describe_submission, submit_group

log = structlog.get_logger(__name__)

# Enough to amortise a transaction; bounded so one group's statement stays small
# (13 bind parameters a row: well within SQLite's and PostgreSQL's limits).
MAX_GROUP = 200

Described = dict[str, Any]
Waiter = tuple[SubmitRequest, "asyncio.Future[Described]"]


@dataclass
class SubmissionIntake:
    session_factory: async_sessionmaker[AsyncSession]
    outbox: Outbox
    max_group: int = MAX_GROUP
    on_group: Callable[[int], None] | None = None  # sizes, for metrics and tests
    _waiting: list[Waiter] = field(default_factory=list)
    _writer: asyncio.Task[None] | None = None

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
        """Let the group being written finish (a shutdown must not lose an accepted submit)."""
        if self._writer is not None:
            await asyncio.shield(self._writer)

    async def _write_while_waiting(self) -> None:
        while self._waiting:
            group = self._next_group()
            if self.on_group is not None:
                self.on_group(len(group))
            try:
                await self._write(group)
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

    async def _write(self, group: list[Waiter]) -> None:
        async with transaction(self.session_factory) as session:
            outcomes = await submit_group(
                session, outbox=self.outbox, requests=[request for request, _ in group]
            )
            answers = [
                outcome if isinstance(outcome, Conflict) else describe_submission(outcome)
                for outcome in outcomes
            ]
        # Committed, and the jobs published (the unit of work's follow-ups ran).
        for (_, future), answer in zip(group, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, Conflict):
                future.set_exception(answer)
            else:
                future.set_result(answer)


def _fail(group: list[Waiter], exc: BaseException) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(exc)
