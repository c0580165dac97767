"""Job queues: named, prioritised, at-least-once delivery with explicit ack.

Embedded mode uses ``MemoryQueue``; services mode plugs a broker-backed queue
behind the same ``JobQueue`` protocol. A message only names a database row, so a
lost or duplicated message never loses or doubles work (see BRIEF section 3).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)


class Delivery(Protocol):
    body: bytes

    async def ack(self) -> None: ...

    async def reject(self, *, requeue: bool) -> None: ...


class JobQueue(Protocol):
    async def start(self) -> None: ...

    async def publish(self, queue: str, body: bytes, *, priority: int = 0) -> None:
        """Return once the message is safely queued; raise ``Unavailable`` otherwise."""

    def consume(self, queue: str) -> AsyncIterator[Delivery]: ...

    async def depth(self, queue: str) -> int | None: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


@dataclass(order=True)
class _Item:
    sort_key: tuple[int, int]
    body: bytes = field(compare=False)
    priority: int = field(compare=False)


@dataclass
class MemoryDelivery:
    body: bytes
    _queue: MemoryQueue
    _name: str
    _item: _Item
    _settled: bool = False

    async def ack(self) -> None:
        self._settled = True

    async def reject(self, *, requeue: bool) -> None:
        if not self._settled and requeue:
            # Back in its old place, as RabbitMQ puts a requeued message back: a job
            # handed back at shutdown is not sent behind the jobs queued after it.
            self._queue.put_back(self._name, self._item)
        self._settled = True


class MemoryQueue:
    """In-process queues; higher ``priority`` first, FIFO within a priority."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.PriorityQueue[_Item]] = {}
        self._sequence = itertools.count()

    async def start(self) -> None:
        pass

    async def ping(self) -> bool:
        return True

    def _get(self, name: str) -> asyncio.PriorityQueue[_Item]:
        return self._queues.setdefault(name, asyncio.PriorityQueue())

    async def publish(self, queue: str, body: bytes, *, priority: int = 0) -> None:
        self._get(queue).put_nowait(_Item((-priority, next(self._sequence)), body, priority))

    async def depth(self, queue: str) -> int | None:
        return self._get(queue).qsize()

    def put_back(self, queue: str, item: _Item) -> None:
        """A delivered message back in the place it was taken from."""
        self._get(queue).put_nowait(item)

    async def consume(self, queue: str) -> AsyncIterator[Delivery]:
        source = self._get(queue)
        while True:
            item = await source.get()
            yield MemoryDelivery(item.body, self, queue, item)

    async def close(self) -> None:
        self._queues.clear()


# A job that failed on our side waits this long before it goes back to the queue,
# so a database that is briefly away is not hammered by a hot retry loop.
RETRY_DELAY_S = 1.0


async def settle(
    delivery: Delivery,
    *,
    run: Callable[[], Awaitable[None]],
    release: Callable[[], Awaitable[None]],
    failure_event: str,
    **log_fields: object,
) -> None:
    """Run one job and settle its message: ack once ``run`` has committed its outcome;
    on our own failure requeue it after a pause; when cancelled (shutting down) hand
    the row back with ``release`` and requeue, so the job is never lost."""
    try:
        await run()
    except asyncio.CancelledError:
        await asyncio.shield(release())
        await asyncio.shield(delivery.reject(requeue=True))
        raise
    except Exception:
        log.exception(failure_event, **log_fields)
        await asyncio.sleep(RETRY_DELAY_S)
        await delivery.reject(requeue=True)
        return
    await delivery.ack()
