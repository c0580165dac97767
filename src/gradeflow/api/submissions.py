"""JSON routes for a student's own submissions and their live event stream."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.api import cached
from gradeflow.api.cached import cached_answer
from gradeflow.api.schemas import COMMON_ERRORS, DateTimeText, errors
from gradeflow.deps import (
    MAX_EVENT_ID,
    MAX_ID,
    AppRuntime,
    CurrentCaller,
    CurrentUser,
    DbSession,
    PathId,
)
from gradeflow.errors import Invalid
from gradeflow.events.service import starting_point, stream_events
from gradeflow.grading import service as grading
from gradeflow.grading.reads import own_submissions
from gradeflow.grading.sandbox import Outcome, TestOutcome
from gradeflow.grading.verdicts import SubmissionStatus
from gradeflow.runtime import Runtime

router = APIRouter(prefix="/api", tags=["submissions"], responses=COMMON_ERRORS)


class TestView(BaseModel):
    id: str = Field(description="The test's unittest id, e.g. `GreetTest.test_greets`.")
    outcome: TestOutcome
    message: str
    description: str = Field("", description="The first line of the test's docstring.")
    expected: str | None = Field(
        None, description="A failed assertEqual's expected value (its second argument), as repr."
    )
    actual: str | None = Field(
        None, description="A failed assertEqual's actual value (its first argument), as repr."
    )
    note: str = Field("", description="That assertion's own message (its `msg`).")
    line: int | None = Field(
        None, description="The line of the student's code an error was raised on."
    )
    output: str = Field("", description="What the student's code printed during the test.")


class FeedbackView(BaseModel):
    outcome: Outcome
    message: str
    tests: list[TestView]
    stdout: str = ""
    stderr: str = ""
    duration_ms: int = 0
    line: int | None = Field(
        None, description="The student's line of a syntax error or an error on import."
    )
    function: str | None = Field(
        None,
        description="For a timeout: the student's function the tests were calling when "
        "the time ran out, as the judge named it.",
    )


class SubmissionView(BaseModel):
    """A submission as the student sees it, in the API and in live events."""

    id: int
    assignment_id: int
    status: SubmissionStatus
    score: float | None
    feedback: FeedbackView | None = Field(description="Set once the submission is graded.")
    attempts: int = Field(description="Grading attempts so far (infrastructure retries).")
    reused: bool = Field(description="The result of identical earlier code was reused.")
    created_at: DateTimeText
    finished_at: DateTimeText | None


class SubmissionDetail(SubmissionView):
    code: str


class SubmissionList(BaseModel):
    items: list[SubmissionView]


@router.get(
    "/submissions",
    summary="The caller's submissions, newest first",
    response_model=SubmissionList,
    responses=errors(401),
)
async def list_own(
    request: Request,
    caller: CurrentCaller,
    assignment_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    async def build(session: AsyncSession, _runtime: Runtime) -> SubmissionList:
        items = await own_submissions(
            session, user_id=caller.id, assignment_id=assignment_id, limit=limit
        )
        return SubmissionList.model_validate({"items": items})

    return await cached_answer(
        request, cached.SUBMISSION_LIST, caller.id, build, assignment_id=assignment_id, limit=limit
    )


@router.get(
    "/submissions/{submission_id:int}",
    summary="One own submission with its feedback",
    response_model=SubmissionDetail,
    responses=errors(401, 404),
)
async def detail(submission_id: PathId, request: Request, caller: CurrentCaller) -> Response:
    async def build(session: AsyncSession, _runtime: Runtime) -> SubmissionDetail:
        submission = await grading.get_submission(
            session, user_id=caller.id, submission_id=submission_id
        )
        view = grading.describe_submission(submission) | {"code": submission.code}
        return SubmissionDetail.model_validate(view)

    return await cached_answer(
        request, cached.SUBMISSION, caller.id, build, submission_id=submission_id
    )


@router.delete(
    "/submissions/{submission_id:int}",
    status_code=204,
    summary="Delete an own graded submission",
    responses=errors(401, 404, 409),
)
async def delete(
    submission_id: PathId, runtime: AppRuntime, session: DbSession, user: CurrentUser
) -> Response:
    await grading.delete_submission(
        session, outbox=runtime.outbox, user_id=user.id, submission_id=submission_id
    )
    return Response(status_code=204)


EVENT_ID = re.compile(r"[0-9]{1,19}")
EVENT_STREAM: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}}}


@router.get(
    "/events",
    summary="Server-Sent Events for the caller, resumable with Last-Event-ID",
    response_class=StreamingResponse,
    responses=EVENT_STREAM | errors(401),
)
async def events(
    runtime: AppRuntime,
    user: CurrentCaller,
    last_event_id: Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID)] = None,
    last_event_id_header: Annotated[str | None, Header(alias="last-event-id")] = None,
    progress: Annotated[
        bool,
        Query(
            description="Also send transient events without an id, never replayed: `queue` "
            "(a queued submission's position and estimated wait) and `progress` (a run's "
            "tests as they finish)."
        ),
    ] = False,
) -> StreamingResponse:
    after = last_event_id
    if last_event_id_header:
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses (a 500).
        if not EVENT_ID.fullmatch(last_event_id_header) or int(last_event_id_header) > MAX_EVENT_ID:
            raise Invalid("Last-Event-ID must be an event id.")
        after = int(last_event_id_header)
    if after is None:
        # "From now on" is fixed before the response starts: a client that has the
        # stream's headers and then submits gets every event of that submission.
        after = await starting_point(runtime.session_factory, user_id=user.id)
    stream = stream_events(
        session_factory=runtime.session_factory,
        pubsub=runtime.pubsub,
        user_id=user.id,
        after_id=after,
        transient=progress,
        side_feed=runtime.queue_watch.watch(user.id) if progress else None,
        stopping=runtime.stopping,
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
