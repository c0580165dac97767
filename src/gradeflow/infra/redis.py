"""Redis adapter: the cross-process pub/sub (stream wake-ups and cache purges).

It degrades instead of failing: while Redis is down it reconnects in the
background; when it is back, every local subscriber is sent ``CATCH_UP`` so it
re-reads what it may have missed from the database.

Kept messages (``keep``) are a hash per key, one field each; a field holds its expiry
(Unix time) before the message, since a hash's fields cannot expire on their own,
and the hash expires ``ttl_s`` after its latest ``keep`` (callers keep a key's fields
for one same ``ttl_s``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gradeflow.infra.pubsub import CATCH_UP, MemoryPubSub, Subscription

log = structlog.get_logger(__name__)
RECONNECT_DELAYS_S = (0.2, 0.5, 1.0, 2.0)
OPERATION_TIMEOUT_S = 0.5


def connect(url: str) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=OPERATION_TIMEOUT_S,
        socket_connect_timeout=OPERATION_TIMEOUT_S,
        health_check_interval=10,
    )


async def _ping(redis: Redis) -> bool:
    try:
        return bool(await redis.ping())
    except (RedisError, OSError):
        return False


class RedisPubSub:
    """One Redis subscription per process, fanned out to local subscribers."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self._redis = connect(url)
        self._listen_redis = Redis.from_url(url, socket_connect_timeout=OPERATION_TIMEOUT_S)
        self.prefix = prefix
        self._local = MemoryPubSub()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="redis-pubsub")

    def is_live(self) -> bool:
        return self.connected.is_set()

    async def publish(self, channel: str, message: str) -> None:
        try:
            await self._redis.publish(f"{self.prefix}:{channel}", message)
        except (RedisError, OSError) as exc:
            # Subscribers re-read the database when Redis is back; nothing is lost.
            log.warning("pubsub.publish_failed", channel=channel, error=str(exc))

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        return self._local.subscribe(channel)

    async def keep(self, key: str, field: str, message: str, *, ttl_s: float) -> None:
        name = f"{self.prefix}:kept:{key}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(name, field, f"{time.time() + ttl_s:.3f} {message}")
                pipe.expire(name, math.ceil(ttl_s))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("pubsub.keep_failed", key=key, error=str(exc))

    async def kept(self, key: str) -> list[str]:
        try:
            fields = await self._redis.hgetall(f"{self.prefix}:kept:{key}")
        except (RedisError, OSError) as exc:
            log.warning("pubsub.kept_failed", key=key, error=str(exc))
            return []
        now = time.time()
        messages = []
        for value in fields.values():
            text = value.decode() if isinstance(value, bytes) else str(value)
            expiry, _, message = text.partition(" ")
            try:
                if float(expiry) > now:
                    messages.append(message)
            except ValueError:
                log.warning("pubsub.kept_malformed", key=key)
        return messages

    async def drop(self, key: str, field: str) -> None:
        try:
            await self._redis.hdel(f"{self.prefix}:kept:{key}", field)
        except (RedisError, OSError) as exc:
            log.warning("pubsub.drop_failed", key=key, error=str(exc))

    async def _listen_forever(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._listen_redis.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{self.prefix}:*")
                    if attempt:
                        log.info("pubsub.reconnected")
                    attempt = 0
                    self.connected.set()
                    # Anything published while we were away is in the database.
                    await self._local.publish_all(CATCH_UP)
                    await self._relay(pubsub.listen())
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.connected.clear()
                delay = RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)]
                if attempt == 0:
                    log.warning("pubsub.disconnected", error=str(exc))
                attempt += 1
                await asyncio.sleep(delay)

    async def _relay(self, messages: AsyncIterator[dict[str, Any]]) -> None:
        skip = len(self.prefix) + 1
        async for message in messages:
            if message.get("type") != "pmessage":
                continue
            channel = message["channel"].decode()[skip:]
            data = message["data"]
            await self._local.publish(
                channel, data.decode() if isinstance(data, bytes) else str(data)
            )

    async def ping(self) -> bool:
        return await _ping(self._redis)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._local.close()
        await self._redis.aclose()
        await self._listen_redis.aclose()
