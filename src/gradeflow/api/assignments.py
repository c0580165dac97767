"""JSON routes for reading assignments, submitting code and regrading."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.identity import Caller
from gradeflow.api import cached
from gradeflow.api.cached import CachedRead, cached_answer
from gradeflow.api.schemas import COMMON_ERRORS, errors
from gradeflow.api.submissions import SubmissionView
from gradeflow.courses.format import Scoring
from gradeflow.courses.members import (
    PracticeScope,
    course_access,
    practice_scope,
    submittable_course,
    taught_course,
)
from gradeflow.courses.reads import ASSIGNMENTS_NAMESPACE, assignment_details, practice_summaries
from gradeflow.courses.service import get_assignment
from gradeflow.db import transaction
from gradeflow.deps import (
    MAX_ID,
    AppRuntime,
    CurrentCaller,
    CurrentUser,
    DbSession,
    PathId,
    decode_utf8,
    media_type,
    read_limited_body,
)
from gradeflow.errors import Invalid, NotFound, UnsupportedMediaType
from gradeflow.grading import service as grading
from gradeflow.grading.reads import user_progress
from gradeflow.grading.service import SubmitRequest
from gradeflow.grading.verdicts import validate_code
from gradeflow.infra.cache import Cache, cached_as_is
from gradeflow.runtime import Runtime

router = APIRouter(prefix="/api/assignments", tags=["assignments"], responses=COMMON_ERRORS)


class CourseRef(BaseModel):
    id: int
    slug: str
    title: str
    public: bool
    archived: bool


class AssignmentSummary(BaseModel):
    id: int
    course: CourseRef
    slug: str
    title: str
    order: int = Field(description="Position in the practice order.")
    points: int
    scoring: Scoring
    completed: bool = Field(description="The caller has passed it.")


class AssignmentList(BaseModel):
    items: list[AssignmentSummary]


class AssignmentDetail(AssignmentSummary):
    module: str = Field(description="The module name the student's code is saved as.")
    handout_html: str
    starter: str
    time_limit_s: float
    tests: list[str] = Field(description="The ids of the tests it is graded with.")


class RegradeStarted(BaseModel):
    assignment_id: int
    total: int
    remaining: int


class RegradeProgress(BaseModel):
    assignment_id: int
    queued: int
    running: int
    remaining: int


CourseFilter = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Only this course's assignments.")
]
# What a student sees of assignments: which exist, where they are enrolled, which they
# passed (their namespace, purged with each result) and who they are.
PracticeRead = Callable[[AsyncSession, Cache, PracticeScope, set[int]], Awaitable[BaseModel]]


async def _practice_answer(
    request: Request,
    caller: Caller,
    cached_read: CachedRead,
    read: PracticeRead,
    **params: int | None,
) -> Response:
    """The caller's cached answer of ``cached_read``, or ``read``'s, kept for next time."""

    async def build(session: AsyncSession, runtime: Runtime) -> BaseModel:
        scope = await practice_scope(session, user=caller)
        progress = await user_progress(session, runtime.cache, user_id=caller.id)
        return await read(session, runtime.cache, scope, set(progress["completed"]))

    return await cached_answer(request, cached_read, caller.id, build, **params)


def _with_completed(item: dict[str, Any], completed: set[int]) -> dict[str, Any]:
    return item | {"completed": item["id"] in completed}


@router.get(
    "",
    summary="The assignments the caller may practise, in order",
    response_model=AssignmentList,
    responses=errors(401),
)
async def list_all(
    request: Request, caller: CurrentCaller, course: CourseFilter = None
) -> Response:
    async def read(
        session: AsyncSession, cache: Cache, scope: PracticeScope, completed: set[int]
    ) -> BaseModel:
        summaries = await practice_summaries(session, cache, scope=scope, course_id=course)
        items = [_with_completed(item, completed) for item in summaries]
        return AssignmentList.model_validate({"items": items})

    return await _practice_answer(request, caller, cached.ASSIGNMENT_LIST, read, course=course)


@router.get(
    "/next",
    summary="The first assignment not yet completed",
    response_model=AssignmentDetail,
    responses=errors(401, 404),
)
async def next_one(
    request: Request, caller: CurrentCaller, course: CourseFilter = None
) -> Response:
    async def read(
        session: AsyncSession, cache: Cache, scope: PracticeScope, completed: set[int]
    ) -> BaseModel:
        summaries = await practice_summaries(session, cache, scope=scope, course_id=course)
        upcoming = next((item for item in summaries if item["id"] not in completed), None)
        if upcoming is None:
            raise NotFound(
                "Every assignment is completed. Well done!", details={"all_completed": True}
            )
        item = await assignment_details(session, cache, assignment_id=upcoming["id"])
        return AssignmentDetail.model_validate(_with_completed(item, completed))

    return await _practice_answer(request, caller, cached.NEXT_ASSIGNMENT, read, course=course)


@router.get(
    "/{assignment_id:int}",
    summary="One assignment with its handout and starter code",
    response_model=AssignmentDetail,
    responses=errors(401, 404),
)
async def detail(assignment_id: PathId, request: Request, caller: CurrentCaller) -> Response:
    async def read(
        session: AsyncSession, cache: Cache, scope: PracticeScope, completed: set[int]
    ) -> BaseModel:
        item = await assignment_details(session, cache, assignment_id=assignment_id)
        course = item["course"]
        if not course["public"] or course["archived"]:
            # Not everyone's to see: only the course's members (and admins) may.
            await course_access(session, course_id=course["id"], user=caller)
        return AssignmentDetail.model_validate(_with_completed(item, completed))

    return await _practice_answer(
        request, caller, cached.ASSIGNMENT, read, assignment_id=assignment_id
    )


SUBMIT_PATH = "/api/assignments/{assignment_id}/submissions"


def document_submit_body(openapi: dict[str, Any], *, max_code_bytes: int) -> None:
    """Describe the submit route's body in ``openapi``, with the limit the server enforces.

    The body is read by hand (JSON or plain text, bounded while it streams), so
    FastAPI cannot infer it; the limit is a setting, so it is filled in per app.
    """
    openapi["paths"][SUBMIT_PATH]["post"]["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["code"],
                    "properties": {"code": {"type": "string", "maxLength": max_code_bytes}},
                }
            },
            "text/plain": {"schema": {"type": "string", "maxLength": max_code_bytes}},
        },
    }


async def submitted_code(request: Request, runtime: AppRuntime) -> str:
    """The code of a submit request, as JSON ``{"code": ...}`` or as plain text.

    A dependency declared before the session, so the body is read before the request
    holds a database connection.
    """
    max_code_bytes = runtime.settings.max_code_bytes
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
    except RecursionError as exc:
        raise Invalid("The request body is JSON nested too deeply.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        raise Invalid('The request body must be a JSON object with a string "code".')
    code: str = data["code"]
    return code


@router.post(
    "/{assignment_id:int}/submissions",
    status_code=202,
    summary="Submit code for grading",
    response_model=SubmissionView,
    responses=errors(401, 404, 409, 413, 415),
)
async def submit(
    assignment_id: PathId,
    code: Annotated[str, Depends(submitted_code)],
    runtime: AppRuntime,
    caller: CurrentCaller,
) -> Response:
    validate_code(code, max_bytes=runtime.settings.max_code_bytes)
    target = await _submission_target(runtime, assignment_id=assignment_id)
    if not target["public"] or target["archived"]:
        # Not everyone's: the caller must be a member, and the course still open.
        async with transaction(runtime.session_factory) as session:
            await submittable_course(session, course_id=target["course_id"], user=caller)
    request = SubmitRequest(caller.id, assignment_id, target["revision"], code)
    # Committed, and its job published, before this answer goes out.
    submission = await runtime.intake.submit(request)
    return Response(
        SubmissionView.model_validate(submission).model_dump_json(),
        status_code=202,
        media_type="application/json",
        headers={"Location": f"/api/submissions/{submission['id']}"},
    )


async def _submission_target(runtime: Runtime, *, assignment_id: int) -> dict[str, Any]:
    """What a submit needs of an assignment, shared by every student: its revision,
    its course and who may submit there."""

    async def load() -> dict[str, Any]:
        async with transaction(runtime.session_factory) as session:
            assignment = await get_assignment(session, assignment_id=assignment_id)
            return {
                "course_id": assignment.course_id,
                "revision": assignment.revision,
                "public": assignment.course.public,
                "archived": assignment.course.archived,
            }

    namespaces = (ASSIGNMENTS_NAMESPACE,)
    target: dict[str, Any] = await cached_as_is(
        runtime.cache, namespaces, f"target:{assignment_id}", load
    )
    return target


@router.post(
    "/{assignment_id:int}/regrade",
    status_code=202,
    summary="Teacher: grade every submission of the assignment again",
    responses=errors(401, 403, 404, 409),
)
async def regrade(
    assignment_id: PathId, runtime: AppRuntime, session: DbSession, user: CurrentUser
) -> RegradeStarted:
    assignment = await get_assignment(session, assignment_id=assignment_id)
    await taught_course(session, course_id=assignment.course_id, user=user)
    ids = await grading.regrade_assignment(
        session, outbox=runtime.outbox, assignment=assignment, started_by=user
    )
    return RegradeStarted(assignment_id=assignment_id, total=len(ids), remaining=len(ids))


@router.get(
    "/{assignment_id:int}/regrade",
    summary="Teacher: progress of the running regrade",
    responses=errors(401, 403, 404),
)
async def regrade_status(
    assignment_id: PathId, session: DbSession, user: CurrentUser
) -> RegradeProgress:
    assignment = await get_assignment(session, assignment_id=assignment_id)
    await taught_course(session, course_id=assignment.course_id, user=user)
    progress = await grading.regrade_progress(session, assignment_id=assignment_id)
    return RegradeProgress(assignment_id=assignment_id, **progress)
