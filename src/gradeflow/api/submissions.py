"""JSON routes for a student's own submissions and their live event stream."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from gradeflow.api.deps import get_runtime, require_user
from gradeflow.db import transaction
from gradeflow.errors import Invalid
from gradeflow.events.service import stream_events
from gradeflow.grading import service as grading
from gradeflow.grading.reads import own_submissions, purge_users

router = APIRouter(prefix="/api", tags=["submissions"])


@router.get("/submissions", summary="The caller's submissions, newest first")
async def list_own(
    request: Request,
    assignment_id: int | None = None,
    limit: int = Query(100, ge=1, le=500),
) -> dict[str, Any]:
    runtime = get_runtime(request)
    async with transaction(runtime.session_factory) as session:
        user = await require_user(session, request)
        items = await own_submissions(
            session, runtime.cache, user_id=user.id, assignment_id=assignment_id, limit=limit
        )
    return {"items": items}


@router.get("/submissions/{submission_id}", summary="One own submission with its feedback")
async def detail(submission_id: int, request: Request) -> dict[str, Any]:
    async with transaction(get_runtime(request).session_factory) as session:
        user = await require_user(session, request)
        submission = await grading.get_submission(
            session, user_id=user.id, submission_id=submission_id
        )
        return grading.describe_submission(submission) | {"code": submission.code}


@router.delete(
    "/submissions/{submission_id}", status_code=204, summary="Delete an own graded submission"
)
async def delete(submission_id: int, request: Request) -> Response:
    runtime = get_runtime(request)
    async with transaction(runtime.session_factory) as session:
        user = await require_user(session, request)
        await grading.delete_submission(session, user_id=user.id, submission_id=submission_id)
    await purge_users(runtime.cache, [user.id])
    return Response(status_code=204)


@router.get(
    "/events",
    summary="Server-Sent Events for the caller, resumable with Last-Event-ID",
    response_class=StreamingResponse,
)
async def events(
    request: Request, last_event_id: int | None = Query(None, ge=0)
) -> StreamingResponse:
    runtime = get_runtime(request)
    async with transaction(runtime.session_factory) as session:
        user = await require_user(session, request)
    header = request.headers.get("last-event-id")
    after = last_event_id
    if header:
        if not header.isdigit():
            raise Invalid("Last-Event-ID must be an event id.")
        after = int(header)
    stream = stream_events(
        session_factory=runtime.session_factory,
        pubsub=runtime.pubsub,
        user_id=user.id,
        after_id=after,
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
