"""Slots that consume one queue, one message at a time each, and a periodic sweeper.

The grader and the import slots are both this: N tasks taking messages from their
queue and handing each to a handler, plus a task that looks for lost work every few
seconds. Stopping takes no new message, lets runs in flight finish for a grace
period, then cancels them; the handler (``queue.settle``) hands a cancelled job back.
``PriorityGate`` lets work taken ahead of a free slot in by priority, not by arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import transaction
from gradeflow.infra.queue import Delivery, JobQueue

log = structlog.get_logger(__name__)


class SlotPool:
    def __init__(
        self,
        *,
        name: str,
        queue: JobQueue,
        queue_name: str,
        slots: int,
        handle: Callable[[Delivery], Awaitable[None]],
        sweep: Callable[[], Awaitable[object]],
        sweep_interval_s: float,
    ) -> None:
        self.name = name
        self.queue = queue
        self.queue_name = queue_name
        self.slots = slots
        self.handle = handle
        self.sweep = sweep
        self.sweep_interval_s = sweep_interval_s
        self._slots: list[asyncio.Task[None]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._busy: set[asyncio.Task[None]] = set()
        self._stopping = False

    def start(self) -> None:
        for slot in range(self.slots):
            task = asyncio.create_task(self._run_slot(), name=f"{self.name}-slot-{slot}")
            self._slots.append(task)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name=f"{self.name}-sweeper")

    async def stop(self, *, grace_s: float = 0.0) -> None:
        """Stop taking jobs; let runs in flight finish for ``grace_s``, then cancel them."""
        self._stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        busy = set(self._busy)
        for task in self._slots:
            if task not in busy:
                task.cancel()
        if busy and grace_s > 0:
            log.info(f"{self.name}.draining", runs=len(busy), grace_s=grace_s)
            await asyncio.wait(busy, timeout=grace_s)
        for task in self._slots:
            task.cancel()
        await asyncio.gather(*self._slots, return_exceptions=True)
        if self._sweeper is not None:
            await asyncio.gather(self._sweeper, return_exceptions=True)
        self._slots.clear()

    async def _run_slot(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        async for delivery in self.queue.consume(self.queue_name):
            if self._stopping:
                await delivery.reject(requeue=True)
                return
            self._busy.add(task)
            try:
                await self.handle(delivery)
            finally:
                self._busy.discard(task)
            if self._stopping:
                return

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                await self.sweep()
            except Exception:
                log.exception(f"{self.name}.sweep_failed")


async def keep_lease(
    session_factory: async_sessionmaker[AsyncSession],
    renew: Callable[[AsyncSession], Awaitable[bool]],
    *,
    every_s: float,
    failure_event: str,
    **log_fields: object,
) -> None:
    """Renew a run's lease every ``every_s`` while it lasts (cancel the task to stop),
    so a short margin still survives a long run; ends once ``renew`` finds the lease
    is no longer ours. A failed renewal is logged and tried again next time."""
    while True:
        await asyncio.sleep(every_s)
        try:
            async with transaction(session_factory) as session:
                if not await renew(session):
                    return
        except Exception as exc:
            log.warning(failure_event, error=str(exc), **log_fields)


class PriorityGate:
    """At most ``size`` holders at once; waiters get in by priority (higher first),
    then in the order they came. Cancelled waiters are skipped."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap
        self._arrivals = itertools.count()

    def hold(self, *, priority: int) -> contextlib.AbstractAsyncContextManager[None]:
        return self.place(priority).hold()

    def place(self, priority: int) -> GatePlace:
        """A place in the line at ``priority``, for a holder that wants to say where it
        stands while it waits (``GatePlace.ahead``)."""
        return GatePlace(self, priority)

    def _waiting_before(self, key: tuple[int, int]) -> int:
        return sum(1 for *k, future in self._waiters if tuple(k) < key and not future.done())

    def _release(self) -> None:
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self._free += 1


class GatePlace:
    """One holder's place at a ``PriorityGate``."""

    def __init__(self, gate: PriorityGate, priority: int) -> None:
        self._gate = gate
        self._priority = priority
        self._key: tuple[int, int] | None = None  # while waiting in the line

    def ahead(self) -> int | None:
        """How many waiters get in before this one, as things stand (a waiter of a
        higher priority that comes later goes ahead too); None unless waiting."""
        if self._key is None:
            return None
        return self._gate._waiting_before(self._key)

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        await self._acquire()
        try:
            yield
        finally:
            self._gate._release()

    async def _acquire(self) -> None:
        gate = self._gate
        if gate._free > 0 and not gate._waiters:
            gate._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._key = (-self._priority, next(gate._arrivals))
        heapq.heappush(gate._waiters, (*self._key, future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                gate._release()  # handed over just as we were cancelled
            raise
        finally:
            self._key = None
