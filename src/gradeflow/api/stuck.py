"""JSON routes for stuck submissions: a course's (its teachers) or every course's
(admins), and the one-click re-run that costs the student nothing."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.api.schemas import COMMON_ERRORS, DateTimeText, errors
from gradeflow.deps import AppRuntime, CurrentAdmin, CurrentUser, DbSession, PathId, TaughtCourse
from gradeflow.grading import stuck
from gradeflow.grading.stuck import StuckReason
from gradeflow.grading.verdicts import SubmissionStatus
from gradeflow.runtime import Runtime

router = APIRouter(prefix="/api", tags=["stuck submissions"], responses=COMMON_ERRORS)


class StuckView(BaseModel):
    id: int
    user_id: int
    student: str = Field(description='Email, or "Guest #id" for an anonymous student.')
    course_id: int
    course_title: str
    assignment_id: int
    assignment_title: str
    status: SubmissionStatus
    reason: StuckReason = Field(
        description="`error`: grading failed on our side; `queued_too_long` / "
        "`running_too_long`: waiting or running beyond the threshold."
    )
    message: str = Field(description="What went wrong, in words.")
    since: DateTimeText = Field(description="When it ended, was queued, or was claimed.")
    attempts: int = Field(description="Grading attempts of its current run.")
    regrading: bool = Field(description="Part of a regrade of its assignment.")


class StuckListView(BaseModel):
    threshold_s: float = Field(description="Queued or running longer than this is stuck.")
    submissions: list[StuckView] = Field(description="Oldest first, at most 500.")


class RerunView(BaseModel):
    id: int
    status: SubmissionStatus = Field(
        description="`queued` when it goes to a grader; `passed`/`failed` when an identical "
        "submission's result for today's revision was reused."
    )
    reused: bool


def stuck_after(runtime: Runtime) -> dt.timedelta:
    return dt.timedelta(seconds=runtime.settings.stuck_after_s)


async def stuck_list(
    session: AsyncSession, runtime: Runtime, *, course_id: int | None
) -> StuckListView:
    found = await stuck.list_stuck(session, stuck_after=stuck_after(runtime), course_id=course_id)
    return StuckListView(
        threshold_s=runtime.settings.stuck_after_s,
        submissions=[StuckView.model_validate(stuck.describe_stuck(s)) for s in found],
    )


@router.get(
    "/courses/{course_id:int}/stuck-submissions",
    summary="Teacher: the course's submissions that failed on our side or wait too long",
    responses=errors(401, 403, 404),
)
async def course_stuck(
    course: TaughtCourse, runtime: AppRuntime, session: DbSession
) -> StuckListView:
    return await stuck_list(session, runtime, course_id=course.id)


@router.get(
    "/stuck-submissions",
    summary="Admin: every course's submissions that failed on our side or wait too long",
    responses=errors(401, 403),
)
async def all_stuck(_admin: CurrentAdmin, runtime: AppRuntime, session: DbSession) -> StuckListView:
    return await stuck_list(session, runtime, course_id=None)


@router.post(
    "/submissions/{submission_id:int}/rerun",
    summary="Teacher: grade a stuck submission again, costing the student no attempt or points",
    responses=errors(401, 403, 404, 409),
)
async def rerun(
    submission_id: PathId, runtime: AppRuntime, session: DbSession, user: CurrentUser
) -> RerunView:
    submission = await stuck.rerun_submission(
        session,
        outbox=runtime.outbox,
        submission_id=submission_id,
        user=user,
        stuck_after=stuck_after(runtime),
    )
    return RerunView(
        id=submission.id,
        status=submission.status,
        reused=submission.reused_from_id is not None,
    )
