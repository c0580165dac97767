"""``gradeflow assignments regrade``: queue a regrade and follow its progress."""

from __future__ import annotations

import asyncio

import typer

from gradeflow.courses.service import get_assignment
from gradeflow.db import transaction
from gradeflow.grading import service
from gradeflow.runtime import open_runtime
from gradeflow.settings import Settings

POLL_S = 0.5
QUEUE_WAIT_S = 10.0


async def regrade_from_cli(settings: Settings, *, assignment_id: int, wait: bool) -> None:
    async with open_runtime(settings, grading=False) as runtime:
        if not settings.embedded and not await _queue_connected(runtime.queue):
            typer.echo("the queue is unreachable; workers' sweepers will publish the jobs")
        async with transaction(runtime.session_factory) as session:
            assignment = await get_assignment(session, assignment_id=assignment_id)
            ids = await service.regrade_assignment(
                session, outbox=runtime.outbox, assignment=assignment
            )
        typer.echo(f"regrading {len(ids)} submissions of {assignment.title!r}")
        if settings.embedded:
            typer.echo("embedded mode: `gradeflow serve` grades them when it (re)starts")
            return
        while wait and ids:
            async with runtime.session_factory() as session:
                progress = await service.regrade_progress(session, assignment_id=assignment_id)
            typer.echo(f"  {len(ids) - progress['remaining']}/{len(ids)} done")
            if progress["remaining"] == 0:
                break
            await asyncio.sleep(POLL_S)


async def _queue_connected(queue: object) -> bool:
    """Wait briefly for a broker connection, so the jobs go out at once rather than swept."""
    connected = getattr(queue, "connected", None)
    if not isinstance(connected, asyncio.Event):
        return True
    try:
        await asyncio.wait_for(connected.wait(), QUEUE_WAIT_S)
    except TimeoutError:
        return False
    return True
