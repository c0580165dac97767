"""JSON routes for reading assignments and submitting code to them."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import User
from gradeflow.api.deps import decode_utf8, get_runtime, media_type, read_limited_body, require_user
from gradeflow.courses.handout import render_handout
from gradeflow.courses.models import Assignment
from gradeflow.courses.service import get_assignment, list_assignments
from gradeflow.db import transaction
from gradeflow.errors import Invalid, NotFound, UnsupportedMediaType
from gradeflow.events.service import notify_users
from gradeflow.grading import service as grading
from gradeflow.grading.messages import PRIORITY_INTERACTIVE
from gradeflow.grading.worker import publish_grading

router = APIRouter(prefix="/api/assignments", tags=["assignments"])


def describe_assignment(
    assignment: Assignment, *, completed: set[int], full: bool = False
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": assignment.id,
        "course": {
            "id": assignment.course.id,
            "slug": assignment.course.slug,
            "title": assignment.course.title,
        },
        "slug": assignment.slug,
        "title": assignment.title,
        "order": assignment.order,
        "points": assignment.points,
        "scoring": assignment.scoring.value,
        "completed": assignment.id in completed,
    }
    if full:
        data["handout_html"] = render_handout(assignment.handout_md)
        data["starter"] = assignment.starter
        data["time_limit_s"] = assignment.time_limit_s
        data["tests"] = list(assignment.test_ids)
    return data


async def _completed(session: AsyncSession, user: User) -> set[int]:
    return await grading.completed_assignment_ids(session, user_id=user.id)


@router.get("", summary="All assignments in practice order")
async def list_all(request: Request) -> dict[str, Any]:
    async with transaction(get_runtime(request).session_factory) as session:
        user = await require_user(session, request)
        done = await _completed(session, user)
        items = [describe_assignment(a, completed=done) for a in await list_assignments(session)]
    return {"items": items}


@router.get("/next", summary="The first assignment not yet completed")
async def next_one(request: Request) -> dict[str, Any]:
    async with transaction(get_runtime(request).session_factory) as session:
        user = await require_user(session, request)
        assignment = await grading.next_assignment(session, user_id=user.id)
        if assignment is None:
            raise NotFound(
                "Every assignment is completed. Well done!", details={"all_completed": True}
            )
        return describe_assignment(assignment, completed=await _completed(session, user), full=True)


@router.get("/{assignment_id}", summary="One assignment with its handout and starter code")
async def detail(assignment_id: int, request: Request) -> dict[str, Any]:
    async with transaction(get_runtime(request).session_factory) as session:
        user = await require_user(session, request)
        assignment = await get_assignment(session, assignment_id=assignment_id)
        return describe_assignment(assignment, completed=await _completed(session, user), full=True)


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
    # Only after the commit: a grader must find the row the message names.
    if needs_grading:
        await publish_grading(runtime.queue, [submission.id], priority=PRIORITY_INTERACTIVE)
    await notify_users(runtime.pubsub, [user.id])
    return JSONResponse(
        body, status_code=202, headers={"Location": f"/api/submissions/{submission.id}"}
    )
