"""The practice page's state: everything personal the page shows, in one cached call.

The page itself is one shell, the same for everyone (``web/pages.py``; nginx serves
it from disk in the stack); ``static/app.js`` fills it from this answer and keeps
it live over ``/api/events`` from the ``last_event_id`` given here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.identity import Caller, caller_of
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.api import cached
from gradeflow.api.accounts import UserView, describe_user
from gradeflow.api.assignments import AssignmentDetail, AssignmentSummary, CourseRef
from gradeflow.api.cached import cached_answer
from gradeflow.api.schemas import COMMON_ERRORS, errors
from gradeflow.api.submissions import SubmissionView
from gradeflow.courses.members import course_access, practice_scope
from gradeflow.courses.models import Course
from gradeflow.courses.reads import (
    assignment_details,
    assignment_summary,
    course_ref,
    practice_summaries,
)
from gradeflow.courses.service import list_assignments
from gradeflow.db import transaction
from gradeflow.deps import MAX_ID, OptionalCaller, runtime_of, set_session_cookie
from gradeflow.errors import Invalid, NotFound
from gradeflow.events.service import latest_event_id
from gradeflow.grading import service as grading
from gradeflow.grading.reads import user_progress
from gradeflow.runtime import Runtime

router = APIRouter(prefix="/api/practice", tags=["practice"], responses=COMMON_ERRORS)


class PracticeAssignment(AssignmentSummary):
    score: float | None = Field(
        None, description="The caller's best score of it so far; None before a graded one."
    )


class PracticeState(BaseModel):
    user: UserView
    last_event_id: int = Field(description="Follow `/api/events` from here to stay live.")
    course: CourseRef | None = Field(
        description="The course whose assignments are listed; None lists all the caller's."
    )
    assignments: list[PracticeAssignment]
    assignment: AssignmentDetail | None = Field(
        description="The one to work on; None when every listed one is completed or none is."
    )
    latest: SubmissionView | None = Field(description="The caller's newest submission of it.")
    code: str = Field(
        description="What the editor opens with: that submission's code or the starter."
    )
    pending_id: int | None = Field(
        description="The caller's submission being graded, of any assignment (one at a time)."
    )
    max_code_bytes: int


# The page passes these from its address (``/assignments/{id}``, ``/courses/{id}/practice``),
# so an id beyond any row's is "no such", as for any other id naming nothing, not a
# validation message on the page.
AssignmentChoice = Annotated[
    int | None, Query(ge=1, description="This assignment (and its course's list).")
]
PracticeCourse = Annotated[int | None, Query(ge=1, description="Only this course's assignments.")]


@router.get(
    "",
    summary="The practice page's state: the caller, their list, the assignment to work on",
    response_model=PracticeState,
    responses=errors(404),
)
async def practice(
    request: Request,
    caller: OptionalCaller,
    assignment: AssignmentChoice = None,
    course: PracticeCourse = None,
) -> Response:
    """With neither ``assignment`` nor ``course``, the first assignment not completed
    in any of the caller's courses. A first visit makes a new anonymous student, whose
    cookie goes out with the answer."""
    if assignment is not None and course is not None:
        raise Invalid("Give an assignment or a course, not both.")
    if assignment is not None and assignment > MAX_ID:
        raise NotFound("No such assignment.")
    if course is not None and course > MAX_ID:
        raise NotFound("No such course.")
    if caller is None:
        runtime = runtime_of(request)
        async with transaction(runtime.session_factory) as session:
            visitor = caller_of(await create_anonymous_user(session))
            state = await practice_state(
                session, runtime, visitor, assignment_id=assignment, course_id=course
            )
        response = Response(state.model_dump_json(), media_type="application/json")
        set_session_cookie(request, response, visitor.id)
        return response
    known = caller

    async def build(session: AsyncSession, runtime: Runtime) -> BaseModel:
        return await practice_state(
            session, runtime, known, assignment_id=assignment, course_id=course
        )

    return await cached_answer(
        request, cached.PRACTICE, caller.id, build, assignment=assignment, course=course
    )


async def practice_state(
    session: AsyncSession,
    runtime: Runtime,
    caller: Caller,
    *,
    assignment_id: int | None,
    course_id: int | None,
) -> PracticeState:
    cache = runtime.cache
    scope = await practice_scope(session, user=caller)
    progress = await user_progress(session, cache, user_id=caller.id)
    completed = set(progress["completed"])
    # Progress cached before scores were part of it has none: no score shown then.
    scores = dict(progress.get("scores", []))
    chosen: dict[str, Any] | None = None
    listed_course: Course | None = None
    if assignment_id is not None:
        chosen = await assignment_details(session, cache, assignment_id=assignment_id)
        course_id = chosen["course"]["id"]
    if course_id is not None:
        listed_course = (await course_access(session, course_id=course_id, user=caller)).course
    listed = await practice_summaries(session, cache, scope=scope, course_id=course_id)
    if chosen is None:
        upcoming = next((item for item in listed if item["id"] not in completed), None)
        if upcoming is not None:
            chosen = await assignment_details(session, cache, assignment_id=upcoming["id"])
    if listed_course is not None and listed_course.archived:
        # An archived course has left practice lists; its members still see its work.
        listed = [
            assignment_summary(a) for a in await list_assignments(session, course_id=course_id)
        ]
    latest = None
    if chosen is not None:
        own = await grading.list_submissions(
            session, user_id=caller.id, assignment_id=chosen["id"], limit=1
        )
        latest = own[0] if own else None
    return PracticeState.model_validate(
        {
            "user": describe_user(caller, progress["points"]),
            "last_event_id": await latest_event_id(session, user_id=caller.id),
            "course": course_ref(listed_course) if listed_course is not None else None,
            "assignments": [
                item | {"completed": item["id"] in completed, "score": scores.get(item["id"])}
                for item in listed
            ],
            "assignment": chosen | {"completed": chosen["id"] in completed} if chosen else None,
            "latest": grading.describe_submission(latest) if latest else None,
            "code": latest.code if latest else (chosen["starter"] if chosen else ""),
            "pending_id": await grading.pending_submission_id(session, user_id=caller.id),
            "max_code_bytes": runtime.settings.max_code_bytes,
        }
    )
