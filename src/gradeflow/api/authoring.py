"""JSON routes for authoring a course's assignments, and the handout preview.

Bodies are read by hand, bounded while they stream (an assignment with its support
files may be megabytes, but never unbounded), then checked by the pydantic models
below for types and by ``format.check_assignment`` for everything else.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gradeflow.api.schemas import COMMON_ERRORS, DateTimeText, errors
from gradeflow.api.submissions import FeedbackView
from gradeflow.courses import authoring
from gradeflow.courses.format import MAX_SUPPORT_FILES, MAX_TEXT_FILE_BYTES
from gradeflow.courses.handout import render_handout
from gradeflow.courses.models import CheckStatus
from gradeflow.deps import (
    AppRuntime,
    CurrentTeacher,
    CurrentUser,
    DbSession,
    PathId,
    TaughtCourse,
    read_limited_body,
)
from gradeflow.errors import UnsupportedMediaType
from gradeflow.grading.checks import save_assignment

router = APIRouter(tags=["authoring"], responses=COMMON_ERRORS)


class _Fields(BaseModel):
    # Strict: "10" is not a number here, as it is not in assignment.toml.
    model_config = ConfigDict(strict=True, extra="forbid")

    title: str | None = Field(default=None, description="Up to 200 characters.")
    order: int | None = Field(default=None, description="Default: after the course's last.")
    points: int | None = Field(default=None, description="0 to 10000 (default 100).")
    scoring: str | None = Field(default=None, description='"all-or-nothing" or "proportional".')
    module: str | None = Field(default=None, description='Student module name ("solution").')
    time_limit_s: float | None = Field(default=None, description="0.1 to 120 (default 10).")
    memory_mb: int | None = Field(default=None, description="32 to 8192 (default 256).")
    handout_md: str | None = Field(default=None, description="Markdown shown to students.")
    starter: str | None = Field(default=None, description="Initial editor content.")
    tests: str | None = Field(default=None, description="unittest tests (tests.py).")
    solution: str | None = Field(default=None, description="Reference solution; must pass.")


class NewAssignment(_Fields):
    slug: str = Field(description="Lowercase letters, digits and '-', unique in the course.")
    title: str
    handout_md: str
    tests: str
    solution: str
    support_files: dict[str, str] = Field(
        default_factory=dict,
        description=f"Relative path under support/ -> text; at most {MAX_SUPPORT_FILES} files.",
    )


class AssignmentChanges(_Fields):
    slug: str | None = None
    support_files: dict[str, str | None] | None = Field(
        default=None,
        description="Merged: a path with text adds or replaces it, with null removes it.",
    )


Body = TypeVar("Body", bound=BaseModel)


async def _read_json(
    request: Request,
    model: type[Body],
    *,
    what: str = "assignment",
    limit: int = authoring.MAX_AUTHORED_BYTES,
) -> Body:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise UnsupportedMediaType(f"Send the {what} as JSON.")
    body = await read_limited_body(request, limit=limit)
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [error | {"loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from exc


async def new_assignment_body(request: Request) -> NewAssignment:
    return await _read_json(request, NewAssignment)


async def assignment_changes_body(request: Request) -> AssignmentChanges:
    return await _read_json(request, AssignmentChanges)


async def handout_source_body(request: Request) -> HandoutSource:
    # Read by hand, not by FastAPI: a handout may be larger than the general body limit,
    # and JSON escapes can make the body six times the Markdown it carries.
    limit = 6 * MAX_TEXT_FILE_BYTES + 1024
    return await _read_json(request, HandoutSource, what="handout", limit=limit)


def _documented(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


class CheckView(BaseModel):
    status: CheckStatus = Field(description="queued, running, then passed, failed or error.")
    attempts: int
    result: FeedbackView | None = Field(description="The reference solution's run, per test.")
    requested_at: DateTimeText
    checked_at: DateTimeText | None


class AuthoredSummary(BaseModel):
    id: int
    course_id: int
    slug: str
    title: str
    order: int
    points: int
    scoring: str
    state: Literal["draft", "published"] = Field(
        description="Students see published assignments only."
    )
    pending_changes: bool = Field(
        description="Published, with a working copy waiting for (or failing) its check; "
        "students see the previous version meanwhile."
    )
    check: CheckView | None = Field(description="The last check; null for CLI imports.")


class AuthoredList(BaseModel):
    items: list[AuthoredSummary]


class AuthoredAssignment(AuthoredSummary):
    module: str
    time_limit_s: float
    memory_mb: int
    handout_md: str
    starter: str
    tests: str
    solution: str
    test_ids: list[str]
    support_files: dict[str, str]
    binary_support_files: list[str] = Field(description="Kept, but not editable as text.")


class HandoutSource(BaseModel):
    markdown: str = Field(max_length=MAX_TEXT_FILE_BYTES)


class HandoutPreview(BaseModel):
    html: str


COURSE_ASSIGNMENTS = "/api/courses/{course_id:int}/assignments"


@router.get(
    COURSE_ASSIGNMENTS,
    summary="Teacher: the course's assignments, drafts included, with their checks",
    responses=errors(401, 403, 404),
)
async def list_authored(course: TaughtCourse, session: DbSession) -> AuthoredList:
    rows = await authoring.authored_assignments(session, course=course)
    items = [authoring.describe_authored(a, d) for a, d in rows]
    return AuthoredList.model_validate({"items": items})


@router.post(
    COURSE_ASSIGNMENTS,
    status_code=201,
    summary="Teacher: create an assignment (a draft until its solution passes)",
    responses=errors(401, 403, 404, 409, 413, 415),
    openapi_extra=_documented(NewAssignment),
)
async def create_authored(
    course: TaughtCourse,
    body: Annotated[NewAssignment, Depends(new_assignment_body)],
    runtime: AppRuntime,
    session: DbSession,
    user: CurrentUser,
) -> AuthoredAssignment:
    saved = await save_assignment(
        session, outbox=runtime.outbox, course=course, user=user, changes=body.model_dump()
    )
    view = authoring.describe_authored(saved.assignment, saved.draft, full=True)
    return AuthoredAssignment.model_validate(view)


@router.get(
    COURSE_ASSIGNMENTS + "/{assignment_id:int}",
    summary="Teacher: one assignment with its tests, solution and last check",
    responses=errors(401, 403, 404),
)
async def get_authored(
    course: TaughtCourse,
    assignment_id: PathId,
    session: DbSession,
) -> AuthoredAssignment:
    assignment, draft = await authoring.authored_assignment(
        session, course=course, assignment_id=assignment_id
    )
    return AuthoredAssignment.model_validate(
        authoring.describe_authored(assignment, draft, full=True)
    )


@router.patch(
    COURSE_ASSIGNMENTS + "/{assignment_id:int}",
    summary="Teacher: edit an assignment (changed tests, solution, files or limits check again)",
    responses=errors(401, 403, 404, 409, 413, 415),
    openapi_extra=_documented(AssignmentChanges),
)
async def update_authored(
    course: TaughtCourse,
    assignment_id: PathId,
    body: Annotated[AssignmentChanges, Depends(assignment_changes_body)],
    runtime: AppRuntime,
    session: DbSession,
    user: CurrentUser,
) -> AuthoredAssignment:
    assignment, _ = await authoring.authored_assignment(
        session, course=course, assignment_id=assignment_id
    )
    saved = await save_assignment(
        session,
        outbox=runtime.outbox,
        course=course,
        user=user,
        changes=body.model_dump(exclude_unset=True),
        assignment=assignment,
    )
    view = authoring.describe_authored(saved.assignment, saved.draft, full=True)
    return AuthoredAssignment.model_validate(view)


@router.post(
    "/api/handout-preview",
    summary="Teacher: a handout's Markdown as students will see it",
    responses=errors(401, 403, 413, 415),
    openapi_extra=_documented(HandoutSource),
)
async def preview_handout(
    teacher: CurrentTeacher, body: Annotated[HandoutSource, Depends(handout_source_body)]
) -> HandoutPreview:
    return HandoutPreview(html=render_handout(body.markdown))
