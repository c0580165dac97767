"""``gradeflow assignments regrade``: queue a regrade and follow its progress."""

from __future__ import annotations

import asyncio

import typer

from gradeflow.courses.service import get_assignment
from gradeflow.db import transaction
from gradeflow.events.service import notify_users
from gradeflow.grading import service
from gradeflow.grading.messages import PRIORITY_BULK
from gradeflow.grading.reads import purge_users
from gradeflow.grading.worker import publish_grading
from gradeflow.runtime import open_runtime
from gradeflow.settings import Settings

POLL_S = 0.5


async def regrade_from_cli(settings: Settings, *, assignment_id: int, wait: bool) -> None:
    async with open_runtime(settings, grading=False) as runtime:
        async with transaction(runtime.session_factory) as session:
            assignment = await get_assignment(session, assignment_id=assignment_id)
            ids = await service.regrade_assignment(session, assignment=assignment)
            users = await service.owners_of(session, submission_ids=ids)
        typer.echo(f"regrading {len(ids)} submissions of {assignment.title!r}")
        if settings.embedded:
            typer.echo("embedded mode: `gradeflow serve` grades them when it (re)starts")
            return
        connected = getattr(runtime.queue, "connected", None)
        if isinstance(connected, asyncio.Event):
            try:
                await asyncio.wait_for(connected.wait(), 10)
            except TimeoutError:
                typer.echo("the queue is unreachable; workers' sweepers will publish the jobs")
        sent = await publish_grading(
            runtime.queue, runtime.session_factory, ids, priority=PRIORITY_BULK
        )
        await purge_users(runtime.cache, users)
        await notify_users(runtime.pubsub, users)
        typer.echo(f"published {sent} jobs")
        while wait and ids:
            async with runtime.session_factory() as session:
                progress = await service.regrade_progress(session, assignment_id=assignment_id)
            typer.echo(f"  {len(ids) - progress['remaining']}/{len(ids)} done")
            if progress["remaining"] == 0:
                break
            await asyncio.sleep(POLL_S)
