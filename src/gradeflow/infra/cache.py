"""Each process's own read cache, with purges that reach every process.

A value lives under one or more namespaces (``assignments``, ``user:42``); purging
a namespace bumps its version, so every value stored under the old version is
unreachable at once without scanning. A value read from the cache costs no network
round trip: it is this process's memory. Other processes learn of a purge through
the pub/sub channel ``cache-purge`` (each message: the purging process's origin id,
then the namespaces), the way streams learn of new results.

Why it stays correct:

- A value is stored under the versions its namespaces had *before* it was loaded.
  A purge that lands while the load runs bumps them, so the value, possibly read
  before the write committed, is stored where nobody looks.
- Purges are published after the write commits (``db.after_commit``), so a load
  that starts after a purge arrived reads the committed data.
- While messages may be missed (Redis unreachable, or this process too far behind
  to queue them), the cache neither answers nor stores; once they flow again, it
  starts empty.
- Values also expire after ``ttl_s``, which bounds the age of any value if a purge
  is lost another way (for example published while Redis was down).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, TypeVar

from gradeflow.infra.pubsub import CATCH_UP, PubSub

PURGE_CHANNEL = "cache-purge"
T = TypeVar("T")
_Versions = tuple[int, ...]


# What the OrderedDict spends on each entry besides the key and the entry tuple (its
# hash-table slot and list link), rounded up.
ENTRY_OVERHEAD_BYTES = 128
# A value that takes more objects than this to measure is not kept: it would be large,
# and measuring it must stay cheap.
MAX_OBJECTS_MEASURED = 50_000
_NOT_MEASURED = 2**62
# Objects every process holds anyway (interned constants, enum members, classes): a
# cached value referring to them does not keep them alive.
_SHARED_TYPES = (type(None), bool, Enum, type)


def size_of(value: Any) -> int:
    """The bytes ``value`` keeps alive: ``sys.getsizeof`` of it and of everything it
    holds (containers, dataclasses, objects' attributes), each object once. Shared
    objects it refers to (small ints, enum members) count too, so this is an upper
    bound on what dropping the value frees. A flat per-value estimate made the budget
    no bound at all: a list of every assignment counted as 512 bytes (PERFORMANCE.md,
    the soak)."""
    seen: set[int] = set()
    pending = [value]
    total = 0
    while pending:
        item = pending.pop()
        if id(item) in seen or isinstance(item, _SHARED_TYPES):
            continue
        seen.add(id(item))
        if len(seen) > MAX_OBJECTS_MEASURED:
            return _NOT_MEASURED
        total += sys.getsizeof(item)
        pending.extend(_referents(item))
    return total


def _referents(item: Any) -> list[Any]:
    if isinstance(item, str | bytes | bytearray | int | float):
        return []
    if isinstance(item, dict):
        return [*item.keys(), *item.values()]
    if isinstance(item, list | tuple | set | frozenset):
        return list(item)
    held = list(getattr(item, "__dict__", {}).values())
    for slot in getattr(type(item), "__slots__", ()):
        if hasattr(item, slot):
            held.append(getattr(item, slot))
    return held


class Cache:
    """An LRU of this process, bounded by ``max_bytes``: what its entries keep alive,
    keys and values (``size_of``); ``pubsub`` shares purges with other processes (None
    in embedded mode: no other process to tell)."""

    def __init__(
        self, *, ttl_s: float, pubsub: PubSub | None = None, max_bytes: int = 64 * 2**20
    ) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.held_bytes = 0
        self._pubsub = pubsub
        # Names this process's own purges when pub/sub brings them back: applied
        # already, they would only throw away values loaded since.
        self._origin = uuid.uuid4().hex[:16]
        self._epoch = 0
        self._versions: dict[str, int] = {}
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, Any, int]] = OrderedDict()
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        if pubsub is None:
            self._listening.set()

    async def start(self) -> None:
        """Start applying other processes' purges; returns once subscribed."""
        if self._pubsub is not None:
            self._listener = asyncio.create_task(self._listen(self._pubsub), name="cache-purges")
            await self._listening.wait()

    def live(self) -> bool:
        """Whether purges reach this process now; if not, nothing is answered or stored."""
        return self._listening.is_set() and (self._pubsub is None or self._pubsub.is_live())

    def versions(self, namespaces: tuple[str, ...]) -> _Versions | None:
        """The versions a load that starts now stores under; None when not ``live()``."""
        if not self.live():
            return None
        return (self._epoch, *(self._versions.get(n, 0) for n in namespaces))

    def get(self, namespaces: tuple[str, ...], key: str) -> Any | None:
        versions = self.versions(namespaces)
        if versions is None:
            return None
        entry_key = (namespaces, versions, key)
        entry = self._entries.get(entry_key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[entry_key]
            self.held_bytes -= entry[2]
            return None
        self._entries.move_to_end(entry_key)
        return entry[1]

    def put(
        self, namespaces: tuple[str, ...], versions: _Versions | None, key: str, value: Any
    ) -> None:
        """Store ``value`` loaded under ``versions`` (from ``versions()`` before the load)."""
        if versions is None or not self.live():
            return
        entry_key = (namespaces, versions, key)
        expires = time.monotonic() + self.ttl_s
        # The entry's own tuple and key count too: many small values are mostly those.
        size = size_of(value) + size_of((entry_key, expires, 0)) + ENTRY_OVERHEAD_BYTES
        if size > self.max_bytes:
            return
        replaced = self._entries.pop(entry_key, None)
        if replaced is not None:
            self.held_bytes -= replaced[2]
        self._entries[entry_key] = (expires, value, size)
        self.held_bytes += size
        self._drop_expired_front(time.monotonic())
        while self.held_bytes > self.max_bytes:
            _, (_, _, evicted) = self._entries.popitem(last=False)
            self.held_bytes -= evicted

    def _drop_expired_front(self, now: float) -> None:
        """Expired entries at the least recently used end go at once: a value stored
        under versions a purge made stale is never read again, so it would otherwise
        wait for the byte bound to push it out."""
        while self._entries:
            _, (expires, _, size) = next(iter(self._entries.items()))
            if expires >= now:
                return
            self._entries.popitem(last=False)
            self.held_bytes -= size

    @property
    def pubsub(self) -> PubSub | None:
        """Where purges are shared with other processes (None: no other process)."""
        return self._pubsub

    async def purge(self, *namespaces: str) -> None:
        """Make what is cached under ``namespaces`` unreachable here and, through
        pub/sub, in every other process."""
        message = self.purge_here(*namespaces)
        if message is not None and self._pubsub is not None:
            await self._pubsub.publish(*message)

    def purge_here(self, *namespaces: str) -> tuple[str, str] | None:
        """``purge`` in this process; returns the (channel, message) that purges them in
        the others, for the caller to publish (None when there is nothing to tell)."""
        if not namespaces:
            return None
        self._bump(namespaces)
        if self._pubsub is None:
            return None
        return PURGE_CHANNEL, " ".join((self._origin, *namespaces))

    def clear(self) -> None:
        self._epoch += 1
        self._entries.clear()
        self.held_bytes = 0

    def _bump(self, namespaces: tuple[str, ...] | list[str]) -> None:
        for namespace in namespaces:
            self._versions[namespace] = self._versions.get(namespace, 0) + 1

    async def _listen(self, pubsub: PubSub) -> None:
        async with pubsub.subscribe(PURGE_CHANNEL) as subscription:
            self._listening.set()
            async for message in subscription.messages():
                if message == CATCH_UP:
                    # Purges may have been missed: nothing cached so far can be trusted.
                    self.clear()
                    continue
                origin, *namespaces = message.split()
                if origin != self._origin:
                    self._bump(namespaces)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        self.clear()


async def cached(
    cache: Cache,
    namespace: str | tuple[str, ...],
    key: str,
    load: Callable[[], Awaitable[Any]],
) -> Any:
    """The cached JSON value of ``key``, or ``load()``'s result, stored for next time.

    Each caller gets its own copy (the value is kept encoded), so a caller may change
    what it gets without changing what others get.
    """
    namespaces = (namespace,) if isinstance(namespace, str) else namespace
    text = cache.get(namespaces, key)
    if text is not None:
        return json.loads(text)
    versions = cache.versions(namespaces)
    value = await load()
    cache.put(namespaces, versions, key, encode(value))
    return value


async def cached_as_is(
    cache: Cache, namespaces: tuple[str, ...], key: str, load: Callable[[], Awaitable[T]]
) -> T:
    """Like ``cached``, for a value nobody changes (a response body, a frozen
    dataclass), kept and shared as it is; a None result is not kept."""
    value: T | None = cache.get(namespaces, key)
    if value is not None:
        return value
    versions = cache.versions(namespaces)
    value = await load()
    if value is not None:
        cache.put(namespaces, versions, key, value)
    return value


def encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
