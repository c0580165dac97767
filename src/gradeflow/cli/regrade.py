"""``gradeflow assignments regrade``: queue a regrade (or a preview) and follow its progress."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from gradeflow.courses.service import get_assignment
from gradeflow.db import transaction
from gradeflow.grading import previews, service
from gradeflow.grading.models import RegradeStatus
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


async def preview_from_cli(settings: Settings, *, assignment_id: int, wait: bool) -> None:
    """Start a regrade preview; in services mode follow it and print who gains and loses."""
    async with open_runtime(settings, grading=False) as runtime:
        if not settings.embedded and not await _queue_connected(runtime.queue):
            typer.echo("the queue is unreachable; workers' sweepers will publish the jobs")
        async with transaction(runtime.session_factory) as session:
            assignment = await get_assignment(session, assignment_id=assignment_id)
            preview = await previews.start_preview(
                session, outbox=runtime.outbox, assignment=assignment, teacher=None
            )
        typer.echo(
            f"preview {preview.id}: grading {preview.total} submissions of {assignment.title!r} "
            f"again; see /assignments/{assignment_id}/regrade-preview/{preview.id}"
        )
        if settings.embedded:
            typer.echo("embedded mode: `gradeflow serve` grades them when it (re)starts")
            return
        if not wait:
            return
        while True:
            async with runtime.session_factory() as session:
                current = await previews.get_preview(session, preview_id=preview.id)
                report = await previews.preview_report(session, current)
            if current.status is not RegradeStatus.running:
                break
            typer.echo(f"  {report['done']}/{report['total']} done")
            await asyncio.sleep(POLL_S)
        typer.echo(format_report(report))


def format_report(report: dict[str, Any]) -> str:
    """The summary and the students whose points change, one line each."""
    if report["summary"] is None:
        return f"preview {report['status']}: {report['message'] or ''}".rstrip(": ")
    summary = report["summary"]
    lines = [
        f"preview {report['status']}: {summary['gainers']} gain, {summary['losers']} lose, "
        f"{summary['unchanged']} unchanged, mean change {summary['mean_delta']:+g}"
        + (f", {summary['errors']} not graded" if summary["errors"] else "")
    ]
    for delta in report["deltas"]:
        if delta["delta"]:
            tests = ", ".join(f"{t['test']} {t['old']}->{t['new']}" for t in delta["changed_tests"])
            lines.append(
                f"  {delta['delta']:+g}  {delta['student']}: {delta['old_points']:g} -> "
                f"{delta['new_points']:g}" + (f" ({tests})" if tests else "")
            )
    return "\n".join(lines)


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
