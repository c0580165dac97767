"""RabbitMQ job queues: durable, persistent, confirmed, prioritised, dead-lettered.

Topology, declared by the app on start for each logical queue ``name``:
``{prefix}.{name}`` (durable, ``x-max-priority``) dead-letters rejected messages
through the ``{prefix}.dead`` exchange into ``{prefix}.{name}.dead``, where
operators can inspect them. Consumers ack manually, only after the outcome is
committed; a message whose ack is lost is redelivered, and the claim rule makes
that harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from gradeflow.errors import Unavailable

log = structlog.get_logger(__name__)
MAX_PRIORITY = 10
PUBLISH_TIMEOUT_S = 5.0
RECONNECT_DELAY_S = 1.0
CLOSE_TIMEOUT_S = 10.0


class QueueUnavailable(Unavailable):
    """The job queue is unavailable; the work is kept and sent when it is back."""


@dataclass
class RabbitDelivery:
    body: bytes
    message: AbstractIncomingMessage

    async def ack(self) -> None:
        try:
            await self.message.ack()
        except Exception as exc:  # the channel died; the broker will redeliver
            log.warning("queue.ack_failed", error=str(exc))

    async def reject(self, *, requeue: bool) -> None:
        try:
            await self.message.reject(requeue=requeue)
        except Exception as exc:
            log.warning("queue.reject_failed", error=str(exc))


class RabbitQueue:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        prefetch: int,
        queues: tuple[str, ...],
        prefetch_of: dict[str, int] | None = None,
    ) -> None:
        """``prefetch`` unacked messages per consumed queue, or ``prefetch_of[queue]``."""
        self.url = url
        self.prefix = prefix
        self.prefetch = prefetch
        self.prefetch_of = prefetch_of or {}
        self.queues = queues
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._connected = asyncio.Event()
        self._connect_task: asyncio.Task[None] | None = None
        self._inboxes: dict[str, asyncio.Queue[RabbitDelivery]] = {}
        self._publish_lock = asyncio.Lock()
        self._closing = False

    def physical_name(self, queue: str) -> str:
        return f"{self.prefix}.{queue}"

    async def start(self) -> None:
        """Connect in the background: a web process must come up while RabbitMQ is down."""
        self._connect_task = asyncio.create_task(self._connect_forever(), name="rabbitmq-connect")

    @property
    def connected(self) -> asyncio.Event:
        return self._connected

    async def _connect_forever(self) -> None:
        logged = False
        while self._connection is None and not self._closing:
            try:
                connection = await aio_pika.connect_robust(
                    self.url, timeout=5, reconnect_interval=RECONNECT_DELAY_S
                )
                channel = await connection.channel(publisher_confirms=True)
                await self._declare(channel)
                self._connection = connection
                self._publish_channel = channel
                self._connected.set()
                log.info("queue.connected", prefix=self.prefix)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not logged:
                    log.warning("queue.connect_failed", error=str(exc))
                    logged = True
                await asyncio.sleep(RECONNECT_DELAY_S)

    async def _declare(self, channel: aio_pika.abc.AbstractChannel) -> None:
        dead = await channel.declare_exchange(
            f"{self.prefix}.dead", aio_pika.ExchangeType.DIRECT, durable=True
        )
        for name in self.queues:
            dead_queue = await channel.declare_queue(
                f"{self.physical_name(name)}.dead", durable=True
            )
            await dead_queue.bind(dead, routing_key=name)
            await channel.declare_queue(
                self.physical_name(name),
                durable=True,
                arguments={
                    "x-max-priority": MAX_PRIORITY,
                    "x-dead-letter-exchange": f"{self.prefix}.dead",
                    "x-dead-letter-routing-key": name,
                },
            )

    async def publish(self, queue: str, body: bytes, *, priority: int = 0) -> None:
        """Returns once the broker confirmed the message; raises QueueUnavailable otherwise."""
        if await self.publish_many(queue, [body], priority=priority) != 1:
            raise QueueUnavailable()

    async def publish_many(self, queue: str, bodies: list[bytes], *, priority: int = 0) -> int:
        """Sends every message before waiting for the first confirm: one round trip to
        the broker for the group, not one each (each await of a confirm costs a turn of
        a busy event loop, and the answer to a group of submits waited for all of them).
        Returns how many, from the first, the broker confirmed."""
        channel = self._publish_channel
        if not bodies:
            return 0
        if channel is None or channel.is_closed:
            log.warning("queue.publish_failed", queue=queue, error="not connected")
            return 0
        exchange = channel.default_exchange
        routing_key = self.physical_name(queue)
        messages = [
            aio_pika.Message(
                body,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                priority=min(priority, MAX_PRIORITY),
                content_type="application/json",
            )
            for body in bodies
        ]
        # One group at a time: the timeout bounds a group, and groups stay in order.
        async with self._publish_lock:
            sends = [
                asyncio.ensure_future(exchange.publish(message, routing_key=routing_key))
                for message in messages
            ]
            _, pending = await asyncio.wait(sends, timeout=PUBLISH_TIMEOUT_S)
            for send in pending:
                send.cancel()
            await asyncio.gather(*sends, return_exceptions=True)
        confirmed = 0
        for send in sends:
            if send.cancelled() or send.exception() is not None:
                error = "timed out" if send.cancelled() else str(send.exception())
                log.warning("queue.publish_failed", queue=queue, error=error,
                            unconfirmed=len(sends) - confirmed)  # fmt: skip
                break
            confirmed += 1
        return confirmed

    async def consume(self, queue: str) -> AsyncIterator[RabbitDelivery]:
        """Deliveries of ``queue``; slots of one process share one broker consumer."""
        inbox = self._inboxes.get(queue)
        if inbox is None:
            inbox = self._inboxes[queue] = asyncio.Queue()
            await self._connected.wait()
            assert self._connection is not None
            channel = await self._connection.channel()
            await channel.set_qos(prefetch_count=self.prefetch_of.get(queue, self.prefetch))
            declared = await channel.get_queue(self.physical_name(queue), ensure=True)

            async def on_message(message: AbstractIncomingMessage) -> None:
                inbox.put_nowait(RabbitDelivery(message.body, message))

            # A robust channel re-registers this consumer after a reconnect.
            await declared.consume(on_message, no_ack=False)
        while True:
            yield await inbox.get()

    async def depth(self, queue: str) -> int | None:
        """Messages ready in ``queue``, or None when the broker is unreachable."""
        if self._connection is None:
            return None
        try:
            # Its own short-lived channel: a failed passive declare closes the channel.
            async with self._connection.channel() as channel:
                declared = await channel.declare_queue(self.physical_name(queue), passive=True)
                count: Any = declared.declaration_result.message_count
        except Exception:
            return None
        return int(count or 0)

    async def ping(self) -> bool:
        return (
            self._connection is not None
            and not self._connection.is_closed
            and (self._publish_channel is not None and not self._publish_channel.is_closed)
        )

    async def close(self) -> None:
        self._closing = True
        task = self._connect_task
        if task is not None and not task.done():
            # Cancelling aio-pika in the middle of a connect leaves its reconnect loop
            # running, which keeps the event loop (and the process) alive: let the
            # attempt finish, then close what it opened.
            try:
                await asyncio.wait_for(asyncio.shield(task), CLOSE_TIMEOUT_S)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
