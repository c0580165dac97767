"""Recording live events and streaming them to a user as Server-Sent Events.

An event row is written in the same transaction as the change it describes; after
the commit, its ``wake_ups`` wake every stream of those users on any web process.
A stream then reads rows after the last id it sent, so a missed wake-up or a
reconnect (``Last-Event-ID``) never loses an event.

Transient events (a run's progress, a queue position) are not rows: they travel in
the pub/sub message itself (``publish_transient``) or come from a side feed of the
web process, and are sent without an id, so they are never replayed; a newer one,
or the state the page reads, supersedes a missed one. The latest of a kind that a
page must not wait for (a run's progress, resent only every few seconds) is also kept
for a short while (``publish_transient(keep_as=...)``): a stream that asked for
transient events starts with what is kept for its user.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, aclosing
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import single_read, utcnow
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


def wake_ups(user_ids: Iterable[int]) -> list[tuple[str, str]]:
    """The pub/sub messages that wake the users' streams, published together after the
    commit (``pubsub.publish_after_commit``): one each, awaited one by one, made a
    group of submits wait a turn of the (busy) event loop per student."""
    return [(user_channel(user_id), "new") for user_id in sorted(set(user_ids))]


def format_sse(event: Event) -> str:
    data = json.dumps({"type": event.type, **event.payload}, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n"


# A pub/sub message that carries a transient event rather than a wake-up call.
TRANSIENT_PREFIX = "sse:"
_EVENT_TYPE = re.compile(r"^[a-z_]{1,40}$")


# How long a kept transient event outlives its last send: a few of the senders'
# heartbeats, so a sender that died leaves nothing behind for long.
KEEP_S = 10.0


def _kept_key(user_id: int) -> str:
    return f"transient:{user_id}"


async def publish_transient(
    pubsub: PubSub,
    *,
    user_id: int,
    type: str,
    payload: dict[str, Any],
    keep_as: str | None = None,
) -> None:
    """Send an event to the user's open streams now, without storing it; with
    ``keep_as`` also keep it under that name for the streams that open next, until
    ``drop_transient`` (or ``KEEP_S`` without a newer one)."""
    if not _EVENT_TYPE.match(type):
        raise ValueError(f"not an event type: {type!r}")
    message = TRANSIENT_PREFIX + json.dumps({"type": type, **payload}, separators=(",", ":"))
    if keep_as is not None:
        await pubsub.keep(_kept_key(user_id), keep_as, message, ttl_s=KEEP_S)
    await pubsub.publish(user_channel(user_id), message)


async def drop_transient(pubsub: PubSub, *, user_id: int, kept_as: str) -> None:
    """No stream opened from now on starts with the event kept as ``kept_as``."""
    await pubsub.drop(_kept_key(user_id), kept_as)


def format_transient(type: str, data: str) -> str:
    """SSE text of an event without an id: a browser's Last-Event-ID stays that of
    the last stored event, so resuming never skips or repeats one."""
    return f"event: {type}\ndata: {data}\n\n"


def transient_sse(message: str) -> str | None:
    """The SSE text of a transient pub/sub message; None for a wake-up call."""
    if not message.startswith(TRANSIENT_PREFIX):
        return None
    data = message[len(TRANSIENT_PREFIX) :]
    try:
        event = json.loads(data)
    except ValueError:
        return None
    kind = event.get("type") if isinstance(event, dict) else None
    if not isinstance(kind, str) or not _EVENT_TYPE.match(kind):
        return None
    # Re-encoded: one line whatever the publisher sent.
    return format_transient(kind, json.dumps(event, separators=(",", ":")))


async def stream_events(
    *,
    session_factory: async_sessionmaker[AsyncSession],
    pubsub: PubSub,
    user_id: int,
    after_id: int,
    heartbeat_s: float = HEARTBEAT_S,
    transient: bool = False,
    side_feed: AbstractAsyncContextManager[AsyncIterator[str]] | None = None,
    stopping: asyncio.Event | None = None,
) -> AsyncIterator[str]:
    """SSE text for ``user_id``: events after ``after_id`` (``starting_point`` for
    from now on, taken before the response starts), until
    ``stopping`` is set (the process is shutting down: the client reconnects, to
    another process); with ``transient`` also the transient events published for
    them, and with ``side_feed`` its SSE text, in between (asked for: not every client
    knows them)."""
    async with AsyncExitStack() as stack:
        # Subscribe before the first read so an event committed in between still wakes us.
        subscription = await stack.enter_async_context(pubsub.subscribe(user_channel(user_id)))
        side = await stack.enter_async_context(side_feed) if side_feed is not None else None
        texts = _stream(
            session_factory,
            pubsub,
            subscription.messages(),
            side,
            user_id=user_id,
            after_id=after_id,
            heartbeat_s=heartbeat_s,
            transient=transient,
            stopping=stopping or asyncio.Event(),
        )
        async with aclosing(texts):
            async for text in texts:
                yield text


async def starting_point(session_factory: async_sessionmaker[AsyncSession], *, user_id: int) -> int:
    """The id a stream "from now on" starts after: the user's latest event's."""
    async with single_read(session_factory) as session:
        return await latest_event_id(session, user_id=user_id)


async def _read_events(
    session_factory: async_sessionmaker[AsyncSession], *, user_id: int, after_id: int
) -> list[Event]:
    """``events_after`` at a wake-up, outside a transaction on PostgreSQL (``single_read``)."""
    async with single_read(session_factory) as session:
        return await events_after(session, user_id=user_id, after_id=after_id)


async def _stream(
    session_factory: async_sessionmaker[AsyncSession],
    pubsub: PubSub,
    wakeups: AsyncIterator[str],
    side: AsyncIterator[str] | None,
    *,
    user_id: int,
    after_id: int,
    heartbeat_s: float,
    transient: bool,
    stopping: asyncio.Event,
) -> AsyncGenerator[str]:
    # The starting point as the SSE id (a block without data: no event fires, but an
    # EventSource keeps it as its Last-Event-ID). A client cut before its first event
    # then resumes from here; without it, it reconnected with no Last-Event-ID, was
    # started "from now on", and never saw what happened in between (found by the
    # chaos run: a submission's whole life fell in that gap).
    yield f"retry: 2000\nid: {after_id}\n: connected, after {after_id}\n\n"
    if transient:
        # Before the rows: a result stored since comes after the progress it ends.
        for message in await pubsub.kept(_kept_key(user_id)):
            carried = transient_sse(message)
            if carried is not None:
                yield carried
    waiter: asyncio.Future[str] | None = None
    side_waiter: asyncio.Future[str] | None = None
    stop = asyncio.ensure_future(stopping.wait())
    read = True
    try:
        while not stopping.is_set():
            if read:
                events = await _read_events(session_factory, user_id=user_id, after_id=after_id)
                for event in events:
                    after_id = event.id
                    yield format_sse(event)
                if len(events) == BATCH:
                    continue
            if waiter is None:
                waiter = asyncio.ensure_future(anext(wakeups))
            if side is not None and side_waiter is None:
                side_waiter = asyncio.ensure_future(anext(side))
            # Without live wake-ups (Redis down) the database is polled every second.
            timeout = heartbeat_s if pubsub.is_live() else DEGRADED_POLL_S
            pending: set[asyncio.Future[Any]] = {waiter, stop}
            if side_waiter is not None:
                pending.add(side_waiter)
            done, _ = await asyncio.wait(
                pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if stop in done:
                return  # the response ends as any other; nothing is cancelled
            # Degraded, rows are read at every turn: side events must not delay them.
            read = not done or not pubsub.is_live()
            if side_waiter is not None and side_waiter in done:
                text, side_waiter = side_waiter.result(), None
                yield text
            if waiter in done:
                message, waiter = waiter.result(), None
                carried = transient_sse(message)
                if carried is None:
                    read = True  # a wake-up: there are rows to read
                elif transient:
                    yield carried
            if not done:
                yield ": heartbeat\n\n"
    finally:
        for future in (waiter, side_waiter, stop):
            if future is not None:
                future.cancel()
