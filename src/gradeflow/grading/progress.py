"""A run's progress, told live to its student as transient events.

The sandbox tells the grader when a run starts and each time the judge starts or
finishes a test (``RunProgress``: only what the judge said, checked like its final
report). ``LiveProgress`` sends the latest of it to the student's open streams: at
most once every ``interval_s``, again every ``heartbeat_s``, and never once closed;
the first once the run (or its wait for a sandbox slot) has lasted ``interval_s``, so
a short run sends none.
The latest is also kept in the pub/sub (Redis in services mode) while the run lasts,
so a page that connects mid-run — a reload — gets it at once instead of after the
next heartbeat; closing drops it. The grader closes it before it records the result,
so the stored ``submission`` event is always the last word on a run; pages ignore
progress of a submission they show as graded anyway. Progress is not stored in the
database (see docs/architecture.md): it is worth nothing once the result is in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from gradeflow.events.service import drop_transient, publish_transient
from gradeflow.grading.models import Submission
from gradeflow.grading.sandbox import RunProgress
from gradeflow.infra.pubsub import PubSub

log = structlog.get_logger(__name__)

PROGRESS_EVENT = "progress"
# At most this many progress events a second per run, whatever the judge's pace.
INTERVAL_S = 0.2
# The latest progress is sent again this often while nothing changes.
HEARTBEAT_S = 2.0
# How long closing waits for a send in flight (the pub/sub's own timeouts are shorter).
CLOSE_TIMEOUT_S = 2.0


def describe_progress(
    *,
    submission_id: int,
    generation: int,
    total: int,
    progress: RunProgress | None,
    waiting_behind: int | None = None,
) -> dict[str, Any]:
    """The payload of a progress event: before the run started (``waiting``: claimed,
    waiting for a free sandbox slot, ``position`` in that grader's line when known) or
    while it runs (``running``)."""
    finished = progress.finished if progress is not None else ()
    payload = {
        "submission_id": submission_id,
        "generation": generation,
        "phase": "waiting" if progress is None else "running",
        "total": total,
        "passed": sum(1 for test in finished if test.outcome == "passed"),
        "finished": [
            {"id": test.id, "outcome": test.outcome}
            | ({"description": test.description} if test.description else {})
            for test in finished
        ],
        "running": progress.running if progress is not None else None,
    }
    if progress is None and waiting_behind is not None:
        payload["position"] = waiting_behind + 1
    return payload


@dataclass
class LiveProgress:
    """The progress of one run, sent to its student throttled (see the module doc)."""

    pubsub: PubSub
    user_id: int
    submission_id: int
    generation: int
    total: int
    interval_s: float = INTERVAL_S
    heartbeat_s: float = HEARTBEAT_S
    # While the run waits for a slot: how many runs get one first (``GatePlace.ahead``).
    ahead: Callable[[], int | None] | None = None
    _latest: RunProgress | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _kept: bool = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._send_forever(), name="grading-progress")

    def update(self, progress: RunProgress) -> None:
        """The sandbox's callback: keep the latest, send it when the throttle allows."""
        self._latest = progress
        self._wake.set()

    async def close(self) -> None:
        """Send nothing more; returns once a send in flight is done."""
        self._stopped.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), CLOSE_TIMEOUT_S)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # After the last send: nothing is kept of a run whose result is about to be in
        # (and a run that sent nothing costs its result no round trip).
        if self._kept:
            await drop_transient(self.pubsub, user_id=self.user_id, kept_as=self._kept_as)

    @property
    def _kept_as(self) -> str:
        return f"{PROGRESS_EVENT}:{self.submission_id}"

    async def _send_forever(self) -> None:
        # Nothing before the run has lasted a throttle interval: most runs end sooner
        # (a few ms at idle), their result is the news, and a progress event sent,
        # kept and dropped meanwhile only took CPU and round trips from the run and
        # its result (PERFORMANCE.md). A run waiting for a slot says so then.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), self.interval_s)
        while not self._stopped.is_set():
            self._wake.clear()
            await self._send()
            # The throttle: closing ends it at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self.interval_s)
            if self._stopped.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.heartbeat_s)

    async def _send(self) -> None:
        payload = describe_progress(
            submission_id=self.submission_id,
            generation=self.generation,
            total=self.total,
            progress=self._latest,
            waiting_behind=self.ahead() if self.ahead is not None else None,
        )
        self._kept = True
        try:
            await publish_transient(
                self.pubsub,
                user_id=self.user_id,
                type=PROGRESS_EVENT,
                payload=payload,
                keep_as=self._kept_as,
            )
        except Exception:  # progress is a courtesy: the run goes on without it
            log.exception("grading.progress_failed", submission_id=self.submission_id)


@contextlib.asynccontextmanager
async def live_progress(
    pubsub: PubSub, submission: Submission, *, ahead: Callable[[], int | None] | None = None
) -> AsyncIterator[LiveProgress]:
    """The live progress of a claimed ``submission``'s run, closed when the block ends;
    ``ahead`` tells how many runs get a slot first while it waits for one."""
    progress = LiveProgress(
        pubsub,
        user_id=submission.user_id,
        submission_id=submission.id,
        generation=submission.generation,
        total=len(submission.assignment.test_ids),
        ahead=ahead,
    )
    progress.start()
    try:
        yield progress
    finally:
        await progress.close()
