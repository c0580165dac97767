"""Staging a grade file: its rows read and checked in a thread, a thousand at a time, and
loaded into ``grade_upload_rows``, with the progress written after every thousand.

PostgreSQL: one COPY stream per ``STREAM_ROWS`` rows, in a transaction of its own,
fed while the next rows are read, so the database loads as Python parses; the
progress goes through short transactions beside it. SQLite: each thousand rows are
one transaction with their progress, so embedded mode's single write lock is held
only briefly and submissions are written between the batches.

Every staging transaction ends with a write guarded by the import's lease, so a
slot that lost it commits nothing more; the progress writes are guarded too, and
stop it within a thousand rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import transaction
from gradeflow.grades import apply, imports
from gradeflow.grades.rows import RowError, RowReader, read_grade_row

BATCH_ROWS = 1000  # rows read between two progress writes
STREAM_ROWS = 50_000  # rows per staging transaction on PostgreSQL

# (rows done, rows total, in the staging transaction ``session`` or None: on its own)
Progress = Callable[[int, int, AsyncSession | None], Coroutine[Any, Any, None]]


@dataclass
class ErrorLog:
    """Row errors as they are found: the first ``KEPT`` of them and a count of all."""

    kept: list[RowError] = field(default_factory=list)
    total: int = 0
    unknown: list[tuple[int, str]] = field(default_factory=list)  # (index in kept, student)

    def add(self, error: RowError, *, student: str | None = None) -> None:
        self.total += 1
        if len(self.kept) < imports.KEPT:
            if student is not None:
                self.unknown.append((len(self.kept), student))
            self.kept.append(error)

    def extend(self, errors: list[RowError], total: int) -> None:
        for error in errors:
            if len(self.kept) < imports.KEPT:
                self.kept.append(error)
        self.total += total


DUPLICATE_WATCH_BYTES = 16 * 1024 * 1024  # memory for spotting repeated cells while reading


class DuplicateWatch:
    """Whether any (student, assessment) cell comes twice, seen while the rows are read.

    A byte per enrolled student per distinct assessment, up to ``DUPLICATE_WATCH_BYTES``
    (10,000 students: 1,677 assessments); a file with more assessments than that gives
    up watching. Only when a cell came twice, or the watch gave up, does the import run
    the SQL ``GROUP BY`` over the staged rows (~3 s per million rows), which finds and
    words every duplicate; a clean file skips it.
    """

    def __init__(self, user_ids: Iterable[int]) -> None:
        self.slots = {user_id: slot for slot, user_id in enumerate(sorted(set(user_ids)))}
        self.columns: dict[str, bytearray] = {}
        self.repeated = False
        self.gave_up = False

    @property
    def needs_sql_check(self) -> bool:
        return self.repeated or self.gave_up

    def column(self, assessment: str) -> bytearray | None:
        """The seen-marks of ``assessment`` (None: the watch gave up)."""
        column = self.columns.get(assessment)
        if column is None and not self.gave_up:
            if (len(self.columns) + 1) * len(self.slots) > DUPLICATE_WATCH_BYTES:
                self.gave_up = True
                self.columns.clear()
                return None
            column = self.columns[assessment] = bytearray(len(self.slots))
        return column

    def see(self, user_id: int, assessment: str) -> None:
        if self.needs_sql_check:
            return
        column = self.column(assessment)
        if column is None:
            return
        slot = self.slots[user_id]
        if column[slot]:
            self.repeated = True
        column[slot] = 1


@dataclass
class RowSource:
    """A file's rows as staging records, read ``BATCH_ROWS`` at a time."""

    upload_id: int
    rows: Iterator[tuple[int, list[str]]]
    reader: RowReader
    roster: dict[str, int]
    errors: ErrorLog
    estimated_rows: int | None
    done: int = 0
    finished: bool = False
    reading_s: float = 0.0  # time spent in ``read_batch``: parsing and checking rows
    counts_wait_s: float = 0.0  # time the COPY waited for a count to be written
    duplicates: DuplicateWatch = field(init=False)

    def __post_init__(self) -> None:
        self.duplicates = DuplicateWatch(self.roster.values())

    def read_batch(self) -> list[apply.StagedRecord]:
        """The next rows to stage (those without errors); errors go to the log."""
        started = time.perf_counter()
        staged: list[apply.StagedRecord] = []
        append = staged.append
        read_fine = self.reader.read_fine
        roster = self.roster
        upload_id = self.upload_id
        watch = self.duplicates
        see = watch.see
        # The watch inlined for the common case (a column already seen): a call per
        # row was a fifth of the loop's time.
        columns, slots = watch.columns, watch.slots
        read = 0
        for number, cells in self.rows:
            read += 1
            fine = read_fine(cells)
            if fine is not None:
                user_id = roster.get(fine[0])
                if user_id is not None:
                    column = columns.get(fine[1])
                    if column is None or watch.repeated:
                        see(user_id, fine[1])
                    elif column[slots[user_id]]:
                        watch.repeated = True
                    else:
                        column[slots[user_id]] = 1
                    append((upload_id, number, user_id, fine[1], fine[2], fine[3], fine[4]))
                    if read >= BATCH_ROWS:
                        break
                    continue
            self._read_slowly(number, cells, staged)
            if read >= BATCH_ROWS:
                break
        else:
            self.finished = True
        self.done += read
        self.reading_s += time.perf_counter() - started
        return staged

    def _read_slowly(self, number: int, cells: list[str], staged: list[apply.StagedRecord]) -> None:
        reader = self.reader
        row, row_errors = read_grade_row(number, cells, reader.columns, reader.scale)
        for error in row_errors:
            self.errors.add(error)
        if row is None:
            return
        user_id = self.roster.get(row.student)
        if user_id is None:
            self.errors.add(
                RowError(number, "student", f"{row.student} is not enrolled in this course."),
                student=row.student,
            )
            return
        self.duplicates.see(user_id, row.assessment)
        staged.append(
            (self.upload_id, number, user_id, row.assessment, row.value, row.letter, row.comment)
        )

    @property
    def total(self) -> int:
        """The rows expected in all: the estimate until the end, then the rows read."""
        if self.finished:
            return self.done
        return max(self.estimated_rows or 0, self.done)


async def stage_file(
    factory: async_sessionmaker[AsyncSession],
    *,
    source: RowSource,
    progress: Progress,
) -> int:
    """Stage every row of ``source``; the rows read.

    ``progress`` writes the count under the lease (LeaseLost if the import is not ours).
    """
    async with factory() as session:
        streamed = session.bind is not None and session.bind.dialect.name == "postgresql"
    if streamed:
        while not source.finished:
            async with transaction(factory) as session:
                await apply.copy_staged(session, records=_records(source, progress))
                await progress(source.done, source.total, session)
    else:
        while not source.finished:
            records = await asyncio.to_thread(source.read_batch)
            async with transaction(factory) as session:
                await progress(source.done, source.total, session)
                await apply.stage_rows(session, records=records)
    return source.done


async def _records(source: RowSource, progress: Progress) -> AsyncIterator[apply.StagedRecord]:
    """Up to ``STREAM_ROWS`` records for one COPY, the progress written after each batch.

    A batch's count is written while the next batch is read, one write in flight at a
    time: its round trips would otherwise hold up the COPY. A LeaseLost it raises
    surfaces at the next batch and aborts the COPY.

    Batches are read in the event loop, not a thread: the database loads the rows
    already sent and answers the count while Python parses, so nothing is lost by
    not yielding, and two thread switches per thousand rows cost seconds per million
    on a loaded machine. The loop is held for one batch at a time (~5 ms of CSV).
    """
    streamed = 0
    written: asyncio.Task[None] | None = None
    try:
        while not source.finished and streamed < STREAM_ROWS:
            before = source.done
            records = source.read_batch()
            streamed += source.done - before
            if written is not None:
                waiting = time.perf_counter()
                await written
                source.counts_wait_s += time.perf_counter() - waiting
            written = asyncio.create_task(progress(source.done, source.total, None))
            await asyncio.sleep(0)  # the count goes out before the next batch is read
            for record in records:
                yield record
        if written is not None:
            await written
    finally:
        if written is not None and not written.done():
            written.cancel()
            with suppress(asyncio.CancelledError):
                await written
