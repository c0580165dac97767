"""Fan-out of small notifications to every subscriber of a channel.

Messages are wake-up calls, not data: a subscriber that misses one catches up from
the database, so the in-process implementation may drop messages for a
subscriber that is far behind instead of growing without bound. Whenever messages
may have been missed, the subscriber is sent ``CATCH_UP`` (after a reconnection to
Redis, or instead of what its full inbox held).

What a unit of work publishes once it commits (``publish_after_commit``: a cache purge,
stream wake-ups) goes out together, one round trip, in the order it was registered.

Beside the channels, a few latest messages can be kept for a while (``keep``), for a
subscriber that arrives later to start from (``kept``): a run's latest progress, for
a page that connects mid-run. Each is kept under a key and a field, until its
``ttl_s`` runs out or it is dropped (``drop``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from gradeflow.db import after_commit

CATCH_UP = "catch-up"
INBOX_SIZE = 100


class Subscription(Protocol):
    def messages(self) -> AsyncIterator[str]: ...


class PubSub(Protocol):
    async def start(self) -> None: ...

    def is_live(self) -> bool:
        """False while messages may be missed (e.g. Redis unreachable): poll instead."""

    async def ping(self) -> bool: ...

    async def publish(self, channel: str, message: str) -> None: ...

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        """Publish each ``(channel, message)``, together (one round trip, not one each)."""

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]: ...

    async def keep(self, key: str, field: str, message: str, *, ttl_s: float) -> None:
        """Keep ``message`` as ``key``'s ``field`` for ``ttl_s`` (one same ``ttl_s`` for
        the fields of a key: Redis expires the key as a whole); best effort, never raises."""

    async def kept(self, key: str) -> list[str]:
        """The messages kept under ``key`` and not expired; [] when they cannot be read."""

    async def drop(self, key: str, field: str) -> None:
        """Drop a kept message; best effort, never raises."""

    async def close(self) -> None: ...


# What to publish, asked for once the unit of work has committed: what it wrote by then.
Messages = Callable[[], list[tuple[str, str]]]
_BATCHES = "gradeflow.pubsub_batches"


def publish_after_commit(
    session: AsyncSession | Session, pubsub: PubSub, messages: Messages
) -> None:
    """Publish ``messages()`` once ``session``'s unit of work commits, in one
    ``publish_many`` with the unit's other publishes to ``pubsub``, in the order they
    were registered (at the first one's place among the unit's follow-ups). A subscriber
    receives them in that order: a cache purge before the wake-up whose reader may ask
    the cache. One after the other, each was a round trip before a result's wake-up."""
    batches: dict[int, list[Messages]] = session.info.setdefault(_BATCHES, {})
    batch = batches.get(id(pubsub))
    if batch is None:
        batch = batches[id(pubsub)] = []
        after_commit(session, partial(_publish_batch, pubsub, batch))
    batch.append(messages)


async def _publish_batch(pubsub: PubSub, batch: list[Messages]) -> None:
    messages = [message for produce in batch for message in produce()]
    if messages:
        await pubsub.publish_many(messages)


class _MemorySubscription:
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str] = asyncio.Queue(maxsize=INBOX_SIZE)

    def deliver(self, message: str) -> None:
        if self.inbox.full():
            # See the module docstring: the reader catches up from the source instead.
            while not self.inbox.empty():
                self.inbox.get_nowait()
            message = CATCH_UP
        self.inbox.put_nowait(message)

    async def messages(self) -> AsyncIterator[str]:
        while True:
            yield await self.inbox.get()


class MemoryPubSub:
    def __init__(self) -> None:
        self._channels: dict[str, set[_MemorySubscription]] = {}
        # key -> field -> (expiry on the monotonic clock, message)
        self._kept: dict[str, dict[str, tuple[float, str]]] = {}

    async def start(self) -> None:
        pass

    def is_live(self) -> bool:
        return True

    async def ping(self) -> bool:
        return True

    async def publish(self, channel: str, message: str) -> None:
        for subscription in list(self._channels.get(channel, ())):
            subscription.deliver(message)

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        for channel, message in messages:
            await self.publish(channel, message)

    async def publish_all(self, message: str) -> None:
        """Wake every subscriber of every channel."""
        for channel in list(self._channels):
            await self.publish(channel, message)

    @asynccontextmanager
    async def _subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        subscription = _MemorySubscription()
        self._channels.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._channels[channel]

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        return self._subscribe(channel)

    async def keep(self, key: str, field: str, message: str, *, ttl_s: float) -> None:
        self._kept.setdefault(key, {})[field] = (time.monotonic() + ttl_s, message)

    async def kept(self, key: str) -> list[str]:
        fields = self._kept.get(key, {})
        now = time.monotonic()
        for field in [f for f, (expiry, _) in fields.items() if expiry <= now]:
            del fields[field]
        if not fields:
            self._kept.pop(key, None)
        return [message for _, message in fields.values()]

    async def drop(self, key: str, field: str) -> None:
        fields = self._kept.get(key)
        if fields is not None:
            fields.pop(field, None)
            if not fields:
                del self._kept[key]

    async def close(self) -> None:
        self._channels.clear()
        self._kept.clear()
