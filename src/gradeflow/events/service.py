"""Recording live events and streaming them to a user as Server-Sent Events.

An event row is written in the same transaction as the change it describes; after
the commit, ``notify_users`` wakes every stream of those users on any web process.
A stream then reads rows after the last id it sent, so a missed wake-up or a
reconnect (``Last-Event-ID``) never loses an event.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import utcnow
from gradeflow.events.models import Event
from gradeflow.infra.pubsub import PubSub

HEARTBEAT_S = 15.0
DEGRADED_POLL_S = 1.0
RETENTION = dt.timedelta(days=2)
BATCH = 200


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


async def record_event(
    session: AsyncSession, *, user_id: int, type: str, payload: dict[str, Any]
) -> Event:
    event = Event(user_id=user_id, type=type, payload=payload)
    session.add(event)
    await session.flush()
    return event


async def latest_event_id(session: AsyncSession, *, user_id: int) -> int:
    value = await session.scalar(select(func.max(Event.id)).where(Event.user_id == user_id))
    return int(value or 0)


async def events_after(
    session: AsyncSession, *, user_id: int, after_id: int, limit: int = BATCH
) -> list[Event]:
    query = (
        select(Event)
        .where(Event.user_id == user_id, Event.id > after_id)
        .order_by(Event.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def prune_events(session: AsyncSession, *, now: dt.datetime | None = None) -> int:
    """Delete events older than the retention window; returns how many went."""
    cutoff = (now or utcnow()) - RETENTION
    result = await session.execute(delete(Event).where(Event.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


async def notify_users(pubsub: PubSub, user_ids: Iterable[int]) -> None:
    for user_id in set(user_ids):
        await pubsub.publish(user_channel(user_id), "new")


def format_sse(event: Event) -> str:
    data = json.dumps({"type": event.type, **event.payload}, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n"


async def stream_events(
    *,
    session_factory: async_sessionmaker[AsyncSession],
    pubsub: PubSub,
    user_id: int,
    after_id: int | None,
    heartbeat_s: float = HEARTBEAT_S,
) -> AsyncIterator[str]:
    """SSE text for ``user_id``: events after ``after_id`` (or from now on), forever."""
    # Subscribe before the first read so an event committed in between still wakes us.
    async with pubsub.subscribe(user_channel(user_id)) as subscription:
        wakeups = subscription.messages()
        if after_id is None:
            async with session_factory() as session:
                after_id = await latest_event_id(session, user_id=user_id)
        yield f"retry: 2000\n: connected, after {after_id}\n\n"
        waiter: asyncio.Task[str] | None = None
        try:
            while True:
                async with session_factory() as session:
                    events = await events_after(session, user_id=user_id, after_id=after_id)
                for event in events:
                    after_id = event.id
                    yield format_sse(event)
                if len(events) == BATCH:
                    continue
                if waiter is None:
                    waiter = asyncio.ensure_future(anext(wakeups))
                # Without live wake-ups (Redis down) the database is polled every second.
                timeout = heartbeat_s if pubsub.is_live() else DEGRADED_POLL_S
                done, _ = await asyncio.wait({waiter}, timeout=timeout)
                if done:
                    waiter.result()
                    waiter = None
                else:
                    yield ": heartbeat\n\n"
        finally:
            if waiter is not None:
                waiter.cancel()
