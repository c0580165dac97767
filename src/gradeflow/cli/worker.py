"""``gradeflow worker``: a services-mode process that grades and imports grade files.

SIGTERM or SIGINT stops consuming at once; runs in flight get a grace period to
finish, after which they are released back to the queue. Nothing is lost either
way: unacknowledged messages return to the broker.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
from prometheus_client import start_http_server

from gradeflow.runtime import open_runtime
from gradeflow.settings import Settings

log = structlog.get_logger(__name__)


async def run_worker(settings: Settings, *, shutdown_grace_s: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with open_runtime(settings, grading=True, shutdown_grace_s=shutdown_grace_s) as runtime:
        if settings.metrics_port:
            start_http_server(
                settings.metrics_port, addr=settings.host, registry=runtime.metrics.registry
            )
        log.info(
            "worker.ready",
            slots=settings.resolved_grader_slots,
            import_slots=settings.import_slots,
        )
        await stop.wait()
        log.info("worker.stopping", grace_s=shutdown_grace_s)
    log.info("worker.stopped")
