"""The long-lived parts of a running gradeflow process, built from settings.

``app.py`` and the CLI build one ``Runtime`` at start-up and close it at shutdown;
nothing is created at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gradeflow.accounts.security import SessionSigner
from gradeflow.db import create_engine, create_session_factory
from gradeflow.errors import GradeflowError
from gradeflow.grading.sandbox import ProcessSandbox, Sandbox
from gradeflow.grading.worker import Grader, GraderConfig
from gradeflow.infra.pubsub import MemoryPubSub, PubSub
from gradeflow.infra.queue import JobQueue, MemoryQueue
from gradeflow.settings import Settings


class UnsupportedConfiguration(GradeflowError):
    """This configuration is not supported."""


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    queue: JobQueue
    pubsub: PubSub
    signer: SessionSigner
    sandbox: Sandbox
    grader: Grader | None = field(default=None)

    async def close(self) -> None:
        if self.grader is not None:
            await self.grader.stop()
        await self.queue.close()
        await self.pubsub.close()
        await self.engine.dispose()


def grader_config(settings: Settings) -> GraderConfig:
    return GraderConfig(
        slots=settings.resolved_grader_slots,
        max_attempts=settings.max_attempts,
        lease_margin_s=settings.lease_margin_s,
        output_limit_bytes=settings.output_limit_bytes,
        sweep_interval_s=settings.sweep_interval_s,
    )


@asynccontextmanager
async def open_runtime(settings: Settings, *, grading: bool) -> AsyncIterator[Runtime]:
    """Connect everything; with ``grading`` also start in-process grader slots."""
    if not settings.embedded or settings.redis_url:
        raise UnsupportedConfiguration(
            "GRADEFLOW_BROKER_URL and GRADEFLOW_REDIS_URL select services mode, which this "
            "version does not provide yet; unset them to run in embedded mode."
        )
    settings.ensure_data_dir()
    engine = create_engine(settings.resolved_database_url)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        queue=MemoryQueue(),
        pubsub=MemoryPubSub(),
        signer=SessionSigner(settings.resolved_secret_key()),
        sandbox=ProcessSandbox(),
    )
    try:
        if grading:
            runtime.grader = Grader(
                session_factory=runtime.session_factory,
                queue=runtime.queue,
                pubsub=runtime.pubsub,
                sandbox=runtime.sandbox,
                config=grader_config(settings),
            )
            # Embedded mode has exactly one grading process, so any run still marked
            # running belongs to a previous process that died.
            await runtime.grader.start(recover=True)
        yield runtime
    finally:
        await runtime.close()
