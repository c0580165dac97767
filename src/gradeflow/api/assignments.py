"""JSON routes for reading assignments, submitting code and regrading."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gradeflow.accounts.models import Role
from gradeflow.api.deps import (
    decode_utf8,
    get_runtime,
    media_type,
    read_limited_body,
    require_role,
    require_user,
)
from gradeflow.courses.reads import assignment_details, assignment_summaries
from gradeflow.courses.service import get_assignment
from gradeflow.db import transaction
from gradeflow.errors import Invalid, NotFound, UnsupportedMediaType
from gradeflow.events.service import notify_users
from gradeflow.grading import service as grading
from gradeflow.grading.messages import PRIORITY_BULK, PRIORITY_INTERACTIVE
from gradeflow.grading.reads import purge_users, user_progress
from gradeflow.grading.worker import publish_grading

router = APIRouter(prefix="/api/assignments", tags=["assignments"])


def _with_completed(item: dict[str, Any], completed: set[int]) -> dict[str, Any]:
    return item | {"completed": item["id"] in completed}


@router.get("", summary="All assignments in practice order")
async def list_all(request: Request) -> dict[str, Any]:
    runtime = get_runtime(request)
    async with transaction(runtime.session_factory) as session:
        user = await require_user(session, request)
        progress = await user_progress(session, runtime.cache, user_id=user.id)
        summaries = await assignment_summaries(session, runtime.cache)
    completed = set(progress["completed"])
    return {"items": [_with_completed(item, completed) for item in summaries]}


@router.get("/next", summary="The first assignment not yet completed")
async def next_one(request: Request) -> dict[str, Any]:
    runtime = get_runtime(request)
    async with transaction(runtime.session_factory) as session:
        user = await require_user(session, request)
        completed = set((await user_progress(session, runtime.cache, user_id=user.id))["completed"])
        summaries = await assignment_summaries(session, runtime.cache)
        upcoming = next((item for item in summaries if item["id"] not in completed), None)
        if upcoming is None:
            raise NotFound(
                "Every assignment is completed. Well done!", details={"all_completed": True}
            )
        detail = await assignment_details(session, runtime.cache, assignment_id=upcoming["id"])
    return _with_completed(detail, completed)


@router.get("/{assignment_id}", summary="One assignment with its handout and starter code")
async def detail(assignment_id: int, request: Request) -> dict[str, Any]:
    runtime = get_runtime(request)
    async with transaction(runtime.session_factory) as session:
        user = await require_user(session, request)
        completed = set((await user_progress(session, runtime.cache, user_id=user.id))["completed"])
        item = await assignment_details(session, runtime.cache, assignment_id=assignment_id)
    return _with_completed(item, completed)


SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["code"],
                    "properties": {"code": {"type": "string", "maxLength": 65536}},
                }
            },
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}


async def _read_code(request: Request, *, max_code_bytes: int) -> str:
    kind = media_type(request)
    # JSON escapes can make a body up to six times longer than the code it carries.
    body = await read_limited_body(request, limit=6 * max_code_bytes + 1024)
    if kind in ("text/plain", "text/x-python"):
        return decode_utf8(body, what="The code")
    if kind != "application/json":
        raise UnsupportedMediaType('Send the code as JSON {"code": ...} or as text/plain.')
    try:
        data = json.loads(decode_utf8(body))
    except ValueError as exc:
        raise Invalid(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        raise Invalid('The request body must be a JSON object with a string "code".')
    code: str = data["code"]
    return code


@router.post(
    "/{assignment_id}/submissions",
    status_code=202,
    summary="Submit code for grading",
    openapi_extra=SUBMIT_BODY,
    responses={
        409: {"description": "A submission is pending"},
        413: {"description": "Code too large"},
    },
)
async def submit(assignment_id: int, request: Request) -> JSONResponse:
    runtime = get_runtime(request)
    code = await _read_code(request, max_code_bytes=runtime.settings.max_code_bytes)
    async with transaction(runtime.session_factory) as session:
        user = await require_user(session, request)
        assignment = await get_assignment(session, assignment_id=assignment_id)
        submission, needs_grading = await grading.submit_code(
            session,
            user=user,
            assignment=assignment,
            code=code,
            max_code_bytes=runtime.settings.max_code_bytes,
        )
        body = grading.describe_submission(submission)
    # Only after the commit: a grader must find the row the message names. When the
    # queue is down the row stays queued and the sweeper publishes it later.
    if needs_grading:
        await publish_grading(
            runtime.queue, runtime.session_factory, [submission.id], priority=PRIORITY_INTERACTIVE
        )
    await purge_users(runtime.cache, [user.id])
    await notify_users(runtime.pubsub, [user.id])
    location = {"Location": f"/api/submissions/{submission.id}"}
    return JSONResponse(body, status_code=202, headers=location)


@router.post(
    "/{assignment_id}/regrade",
    status_code=202,
    summary="Teacher: grade every submission of the assignment again",
)
async def regrade(assignment_id: int, request: Request) -> dict[str, Any]:
    runtime = get_runtime(request)
    async with transaction(runtime.session_factory) as session:
        require_role(await require_user(session, request), Role.teacher, Role.admin)
        assignment = await get_assignment(session, assignment_id=assignment_id)
        ids = await grading.regrade_assignment(session, assignment=assignment)
        users = await grading.owners_of(session, submission_ids=ids)
    await publish_grading(runtime.queue, runtime.session_factory, ids, priority=PRIORITY_BULK)
    await purge_users(runtime.cache, users)
    await notify_users(runtime.pubsub, users)
    return {"assignment_id": assignment_id, "total": len(ids), "remaining": len(ids)}


@router.get("/{assignment_id}/regrade", summary="Teacher: progress of the running regrade")
async def regrade_status(assignment_id: int, request: Request) -> dict[str, Any]:
    runtime = get_runtime(request)
    async with transaction(runtime.session_factory) as session:
        require_role(await require_user(session, request), Role.teacher, Role.admin)
        await get_assignment(session, assignment_id=assignment_id)
        progress = await grading.regrade_progress(session, assignment_id=assignment_id)
    return {"assignment_id": assignment_id} | progress
