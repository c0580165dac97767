"""The long-lived parts of a running gradeflow process, built from settings.

Embedded mode (no broker configured) uses in-process adapters and grades inside
the serving process; services mode uses RabbitMQ, Redis and PostgreSQL, with web
and worker processes started separately. Nothing is created at import time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gradeflow.accounts.security import SessionSigner
from gradeflow.db import create_engine, create_session_factory
from gradeflow.grades.blobs import ORPHAN_AGE, BlobStore, open_blob_store
from gradeflow.grades.worker import Importer, ImporterConfig
from gradeflow.grading.intake import SubmissionIntake
from gradeflow.grading.messages import IMPORTS_QUEUE, QUEUES
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.queue_watch import QueueWatch
from gradeflow.grading.sandbox import Sandbox
from gradeflow.grading.verdicts import start_sandbox
from gradeflow.grading.worker import GROUP_LINGER_S, Grader, GraderConfig
from gradeflow.infra.cache import Cache
from gradeflow.infra.pubsub import MemoryPubSub, PubSub
from gradeflow.infra.queue import JobQueue, MemoryQueue
from gradeflow.infra.rabbitmq import RabbitQueue
from gradeflow.infra.redis import RedisPubSub
from gradeflow.metrics import Metrics
from gradeflow.purges import purge_on_commit
from gradeflow.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    queue: JobQueue
    pubsub: PubSub
    cache: Cache
    signer: SessionSigner
    metrics: Metrics
    outbox: Outbox
    intake: SubmissionIntake
    blobs: BlobStore
    queue_watch: QueueWatch
    sandbox: Sandbox | None = field(default=None)
    grader: Grader | None = field(default=None)
    importer: Importer | None = field(default=None)
    # Set when the process begins to shut down: open event streams end on it.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def end_streams(self) -> None:
        """End every open event stream now (their clients reconnect by themselves),
        and any opened from now on at once."""
        self.stopping.set()

    async def close(self, *, grace_s: float = 0.0) -> None:
        self.end_streams()
        await self.queue_watch.close()
        await self.intake.close()
        if self.importer is not None:
            await self.importer.stop(grace_s=grace_s)
        if self.grader is not None:
            await self.grader.stop(grace_s=grace_s)
        if self.sandbox is not None:
            await self.sandbox.close()
        await self.queue.close()
        await self.cache.close()
        await self.pubsub.close()
        await self.engine.dispose()


def grader_config(settings: Settings) -> GraderConfig:
    return GraderConfig(
        slots=settings.resolved_grader_slots,
        max_attempts=settings.max_attempts,
        lease_margin_s=settings.lease_margin_s,
        output_limit_bytes=settings.output_limit_bytes,
        sweep_interval_s=settings.sweep_interval_s,
        # The same in both modes: embedded mode's groups held ~1.2 claims and results
        # with one claim ahead and no lingering, and each paid a transaction, an event
        # insert and a purge alone (docs/architecture.md, issue 11).
        claim_ahead=settings.resolved_claim_ahead,
        group_linger_s=GROUP_LINGER_S,
    )


async def _remove_partial_blobs(blobs: BlobStore) -> None:
    """At start-up, in every process (a web host's spool files are on its own disk, which
    no worker's sweeper sees): delete what uploads killed mid-way left, an hour old."""
    try:
        removed = await blobs.remove_partial(older_than=ORPHAN_AGE)
    except OSError:
        log.exception("blobs.partial_cleanup_failed")
        return
    if removed:
        log.info("blobs.partial_removed", files=removed)


def importer_config(settings: Settings) -> ImporterConfig:
    return ImporterConfig(
        slots=settings.import_slots,
        max_attempts=settings.max_attempts,
        # An import's lease is renewed every third of it, like a grading run's margin.
        lease_s=settings.lease_margin_s,
        sweep_interval_s=settings.sweep_interval_s,
        max_upload_bytes=settings.max_upload_mb * 1024 * 1024,
    )


def _queue(settings: Settings) -> JobQueue:
    if not settings.broker_url:
        return MemoryQueue()
    return RabbitQueue(
        settings.broker_url,
        prefix=settings.queue_prefix,
        prefetch=settings.resolved_prefetch,
        queues=QUEUES,
        prefetch_of={IMPORTS_QUEUE: settings.resolved_import_prefetch},
    )


def _pubsub(settings: Settings) -> PubSub:
    if not settings.redis_url:
        return MemoryPubSub()
    return RedisPubSub(settings.redis_url, prefix=settings.queue_prefix)


def build_cache(settings: Settings, pubsub: PubSub) -> Cache:
    # Embedded mode is one process: its purges have nobody else to reach.
    shared = pubsub if settings.redis_url else None
    return Cache(ttl_s=settings.cache_ttl_s, pubsub=shared, max_bytes=settings.cache_mb * 2**20)


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A command's sessions, outside a server: its writes purge the running servers'
    caches too (in services mode; an embedded server's cache waits for its TTL)."""
    engine = create_engine(settings.resolved_database_url)
    pubsub = _pubsub(settings)
    cache = build_cache(settings, pubsub)
    try:
        yield create_session_factory(engine, on_write=purge_on_commit(cache))
    finally:
        await cache.close()
        await pubsub.close()
        await engine.dispose()


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, grading: bool, shutdown_grace_s: float = 0.0
) -> AsyncIterator[Runtime]:
    """Connect everything; with ``grading`` also start grader and import slots here."""
    settings.ensure_data_dir()
    engine = create_engine(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    queue, pubsub = _queue(settings), _pubsub(settings)
    cache = build_cache(settings, pubsub)
    session_factory = create_session_factory(engine, on_write=purge_on_commit(cache))
    outbox = Outbox(queue=queue, pubsub=pubsub, session_factory=session_factory)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        queue=queue,
        pubsub=pubsub,
        cache=cache,
        signer=SessionSigner(settings.resolved_secret_key()),
        metrics=Metrics(),
        outbox=outbox,
        intake=SubmissionIntake(session_factory, outbox),
        blobs=open_blob_store(settings, engine),
        queue_watch=QueueWatch(session_factory),
    )
    try:
        await runtime.queue.start()
        await runtime.pubsub.start()
        await runtime.cache.start()
        await _remove_partial_blobs(runtime.blobs)
        if grading:
            runtime.sandbox = await start_sandbox(settings, slots=settings.resolved_grader_slots)
            runtime.grader = Grader(
                session_factory=runtime.session_factory,
                queue=runtime.queue,
                outbox=runtime.outbox,
                sandbox=runtime.sandbox,
                config=grader_config(settings),
                metrics=runtime.metrics,
            )
            # Only embedded mode is sure to be the one grading process, so only
            # there may rows left `running` be taken back at once.
            await runtime.grader.start(recover=settings.embedded)
            runtime.importer = Importer(
                session_factory=runtime.session_factory,
                queue=runtime.queue,
                outbox=runtime.outbox,
                blobs=runtime.blobs,
                config=importer_config(settings),
            )
            await runtime.importer.start(recover=settings.embedded)
        yield runtime
    finally:
        await runtime.close(grace_s=shutdown_grace_s)
