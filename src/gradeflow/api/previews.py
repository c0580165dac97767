"""JSON routes for regrade previews: start one, follow it, read its deltas, apply or discard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import User
from gradeflow.api.schemas import COMMON_ERRORS, DateTimeText, errors
from gradeflow.courses.members import taught_course
from gradeflow.courses.service import get_assignment
from gradeflow.deps import AppRuntime, CurrentUser, DbSession, PathId
from gradeflow.grading import previews
from gradeflow.grading.deltas import Policy
from gradeflow.grading.models import Regrade, RegradeStatus

router = APIRouter(prefix="/api", tags=["regrade previews"], responses=COMMON_ERRORS)


class PreviewStarted(BaseModel):
    id: int
    status: RegradeStatus
    total: int = Field(description="Graded submissions being graded again.")


class ChangedTestView(BaseModel):
    test: str = Field(description="The test's unittest id.")
    old: str = Field(description="Its outcome before: passed, failed, error, … or missing.")
    new: str = Field(description="Its outcome after, under the policy.")


class StudentDeltaView(BaseModel):
    student: str = Field(description='Email, or "Guest #id" for an anonymous student.')
    user_id: int
    submission_id: int = Field(description="The submission whose tests explain the change.")
    old_points: float = Field(description="Best score for the assignment now.")
    new_points: float = Field(description="Best score once applied with the policy.")
    delta: float
    changed_tests: list[ChangedTestView]


class DeltaSummaryView(BaseModel):
    students: int
    gainers: int
    losers: int
    unchanged: int
    mean_delta: float
    errors: int = Field(description="Results that failed on our side; they are never applied.")


class PreviewView(BaseModel):
    id: int
    assignment_id: int
    status: RegradeStatus
    policy: Policy | None = Field(description="The policy it was applied with.")
    message: str | None = Field(description="Why it failed, if it did.")
    revision: str = Field(description="The assignment revision it grades against.")
    total: int
    done: int
    queued: int
    running: int
    errors: int
    created_at: DateTimeText
    finished_at: DateTimeText | None
    closed_at: DateTimeText | None
    deltas_policy: Policy = Field(description="The policy the deltas are computed for.")
    summary: DeltaSummaryView | None = Field(description="Once every result is in.")
    deltas: list[StudentDeltaView] | None = Field(description="Sorted by delta, losers first.")


class ApplyRequest(BaseModel):
    policy: Policy = Field(
        description="`new`: every submission takes its new result; `higher`: it takes the "
        "new result only where that scores at least as much as the old one."
    )


async def preview_view(
    session: AsyncSession, preview: Regrade, *, policy: Policy | None = None
) -> PreviewView:
    return PreviewView.model_validate(
        await previews.preview_report(session, preview, policy=policy)
    )


async def taught_preview(session: AsyncSession, *, preview_id: int, user: User) -> Regrade:
    """The preview if ``user`` teaches its course: 404 unseen, 403 seen."""
    preview = await previews.get_preview(session, preview_id=preview_id)
    assignment = await get_assignment(session, assignment_id=preview.assignment_id)
    await taught_course(session, course_id=assignment.course_id, user=user)
    return preview


@router.post(
    "/assignments/{assignment_id:int}/regrade-preview",
    status_code=202,
    summary="Teacher: grade every graded submission again into a preview, scores untouched",
    responses=errors(401, 403, 404, 409),
)
async def start(
    assignment_id: PathId,
    response: Response,
    runtime: AppRuntime,
    session: DbSession,
    user: CurrentUser,
) -> PreviewStarted:
    assignment = await get_assignment(session, assignment_id=assignment_id)
    await taught_course(session, course_id=assignment.course_id, user=user)
    preview = await previews.start_preview(
        session, outbox=runtime.outbox, assignment=assignment, teacher=user
    )
    response.headers["Location"] = f"/api/regrade-previews/{preview.id}"
    return PreviewStarted(id=preview.id, status=preview.status, total=preview.total)


@router.get(
    "/regrade-previews/{preview_id:int}",
    summary="Teacher: a preview's progress and, once ready, each student's delta",
    responses=errors(401, 403, 404),
)
async def read(
    preview_id: PathId,
    session: DbSession,
    user: CurrentUser,
    policy: Annotated[
        Policy | None, Query(description="Deltas for this policy; default the applied one, or new.")
    ] = None,
) -> PreviewView:
    preview = await taught_preview(session, preview_id=preview_id, user=user)
    return await preview_view(session, preview, policy=policy)


@router.post(
    "/regrade-previews/{preview_id:int}/apply",
    summary="Teacher: store a ready preview's results on the submissions, in one step",
    responses=errors(401, 403, 404, 409),
)
async def apply(
    preview_id: PathId,
    body: ApplyRequest,
    runtime: AppRuntime,
    session: DbSession,
    user: CurrentUser,
) -> PreviewView:
    preview = await taught_preview(session, preview_id=preview_id, user=user)
    applied = await previews.apply_preview(
        session, outbox=runtime.outbox, preview=preview, policy=body.policy, by=user
    )
    return await preview_view(session, applied)


@router.delete(
    "/regrade-previews/{preview_id:int}",
    summary="Teacher: discard a preview; no score changes",
    responses=errors(401, 403, 404, 409),
)
async def discard(
    preview_id: PathId, runtime: AppRuntime, session: DbSession, user: CurrentUser
) -> PreviewView:
    preview = await taught_preview(session, preview_id=preview_id, user=user)
    discarded = await previews.discard_preview(
        session, outbox=runtime.outbox, preview=preview, by=user
    )
    return await preview_view(session, discarded)
