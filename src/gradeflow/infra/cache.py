"""A read-through cache with versioned namespaces.

A key lives in a namespace (``assignments``, ``user:42``); purging a namespace
bumps its version, so every key written under the old version is unreachable at
once without scanning. Values also expire after a TTL, which bounds staleness if a
purge is lost while the cache server is down. A cache failure is a miss, never an
error: the database answers instead.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class Cache(Protocol):
    async def get(self, namespace: str, key: str) -> Any | None: ...

    async def set(self, namespace: str, key: str, value: Any) -> None: ...

    async def purge(self, *namespaces: str) -> None: ...

    async def close(self) -> None: ...


async def cached(cache: Cache, namespace: str, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
    """The cached value of ``key``, or ``load()``'s result, stored for next time."""
    value = await cache.get(namespace, key)
    if value is None:
        value = await load()
        await cache.set(namespace, key, value)
    return value


def encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class MemoryCache:
    """Embedded mode: a bounded LRU in this process."""

    def __init__(self, *, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._versions: dict[str, int] = {}
        self._entries: OrderedDict[tuple[str, int, str], tuple[float, str]] = OrderedDict()

    def _key(self, namespace: str, key: str) -> tuple[str, int, str]:
        return (namespace, self._versions.get(namespace, 0), key)

    async def get(self, namespace: str, key: str) -> Any | None:
        entry = self._entries.get(self._key(namespace, key))
        if entry is None or entry[0] < time.monotonic():
            return None
        self._entries.move_to_end(self._key(namespace, key))
        return json.loads(entry[1])

    async def set(self, namespace: str, key: str, value: Any) -> None:
        self._entries[self._key(namespace, key)] = (time.monotonic() + self.ttl_s, encode(value))
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def purge(self, *namespaces: str) -> None:
        for namespace in namespaces:
            self._versions[namespace] = self._versions.get(namespace, 0) + 1

    async def close(self) -> None:
        self._entries.clear()
