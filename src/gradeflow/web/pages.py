"""HTML pages: the practice page, the submissions page and error pages.

Pages are rendered on the server and then kept live by ``static/app.js`` over
``/api/events``; they read through the same service functions as the JSON API.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.identity import Caller, user_namespace
from gradeflow.accounts.models import User
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.courses.handout import render_handout
from gradeflow.courses.members import (
    MEMBERSHIPS_NAMESPACE,
    PracticeScope,
    course_access,
    practice_scope,
)
from gradeflow.courses.models import Assignment, Course
from gradeflow.courses.reads import ASSIGNMENTS_NAMESPACE, assignment_summary
from gradeflow.courses.service import get_assignment, list_assignments
from gradeflow.db import transaction
from gradeflow.deps import (
    DbSession,
    OptionalCaller,
    PathId,
    Visitor,
    runtime_of,
    set_session_cookie,
)
from gradeflow.events.service import latest_event_id
from gradeflow.grading import service as grading
from gradeflow.infra.cache import cached_as_is
from gradeflow.runtime import Runtime

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def render(name: str, context: dict[str, Any]) -> str:
    """A page as text: FastAPI wraps it, adding the visitor's new cookie if there is one."""
    return templates.get_template(name).render(context)


PracticePage = Callable[[AsyncSession, Runtime, User], Awaitable[str]]


async def _practice_page(
    request: Request, caller: Caller | None, key: str, page: PracticePage
) -> Response:
    """A practice page: a known caller's is cached (what it shows lives in their
    namespace, the assignments' and the memberships'); a first visit makes a new
    anonymous student, whose cookie goes out with the page."""
    runtime = runtime_of(request)

    async def load() -> bytes | None:
        async with transaction(runtime.session_factory) as session:
            user = await session.get(User, caller.id) if caller is not None else None
            # None: the caller's row went away since it was cached; a new visitor then.
            return (await page(session, runtime, user)).encode() if user is not None else None

    if caller is not None:
        namespaces = (user_namespace(caller.id), ASSIGNMENTS_NAMESPACE, MEMBERSHIPS_NAMESPACE)
        body = await cached_as_is(runtime.cache, namespaces, key, load)
        if body is not None:
            return HTMLResponse(body)
    async with transaction(runtime.session_factory) as session:
        user = await create_anonymous_user(session)
        html = await page(session, runtime, user)
    response = HTMLResponse(html)
    set_session_cookie(request, response, user.id)
    return response


@router.get("/")
async def home(request: Request, caller: OptionalCaller) -> Response:
    """The first assignment the visitor has not completed yet, in any of their courses."""

    async def page(session: AsyncSession, runtime: Runtime, user: User) -> str:
        scope = await practice_scope(session, user=user)
        assignment = await grading.next_assignment(session, user_id=user.id, scope=scope)
        return await _render_practice(runtime, session, user, assignment, scope=scope)

    return await _practice_page(request, caller, "page:home", page)


@router.get("/courses/{course_id}/practice")
async def course_practice(course_id: PathId, request: Request, caller: OptionalCaller) -> Response:
    """The first assignment of one course the visitor has not completed yet."""

    async def page(session: AsyncSession, runtime: Runtime, user: User) -> str:
        access = await course_access(session, course_id=course_id, user=user)
        scope = await practice_scope(session, user=user)
        assignment = await grading.next_assignment(
            session, user_id=user.id, scope=scope, course_id=course_id
        )
        return await _render_practice(
            runtime, session, user, assignment, scope=scope, course=access.course
        )

    return await _practice_page(request, caller, f"page:course:{course_id}", page)


@router.get("/assignments/{assignment_id}")
async def assignment_page(
    assignment_id: PathId, request: Request, caller: OptionalCaller
) -> Response:
    async def page(session: AsyncSession, runtime: Runtime, user: User) -> str:
        assignment = await get_assignment(session, assignment_id=assignment_id)
        access = await course_access(session, course_id=assignment.course_id, user=user)
        scope = await practice_scope(session, user=user)
        return await _render_practice(
            runtime, session, user, assignment, scope=scope, course=access.course
        )

    return await _practice_page(request, caller, f"page:assignment:{assignment_id}", page)


async def _render_practice(
    runtime: Runtime,
    session: AsyncSession,
    user: User,
    assignment: Assignment | None,
    *,
    scope: PracticeScope,
    course: Course | None = None,
) -> str:
    """The practice page; its list holds ``course``'s assignments, or all the user's."""
    done = await grading.completed_assignment_ids(session, user_id=user.id)
    listed = await list_assignments(
        session, scope=scope, course_id=course.id if course is not None else None
    )
    if course is not None and course.archived:
        # An archived course has left practice lists; its members still see its work.
        listed = await list_assignments(session, course_id=course.id)
    latest = None
    if assignment is not None:
        own = await grading.list_submissions(
            session, user_id=user.id, assignment_id=assignment.id, limit=1
        )
        latest = own[0] if own else None
    pending = await grading.pending_submission_id(session, user_id=user.id)
    context = await _base_context(session, user) | {
        "assignment": assignment,
        "course": course,
        "handout_html": render_handout(assignment.handout_md) if assignment else "",
        "assignments": [assignment_summary(a) | {"completed": a.id in done} for a in listed],
        "editor_code": latest.code if latest else (assignment.starter if assignment else ""),
        "latest_json": json.dumps(grading.describe_submission(latest)) if latest else "null",
        "pending_id": pending,
        "max_code_bytes": runtime.settings.max_code_bytes,
    }
    return render("practice.html", context)


@router.get("/submissions")
async def submissions_page(session: DbSession, user: Visitor) -> str:
    rows = await grading.list_submissions(session, user_id=user.id, limit=200)
    titles = {a.id: a.title for a in await list_assignments(session)}
    context = await _base_context(session, user) | {
        "submissions": [grading.describe_submission(s) for s in rows],
        "titles": titles,
    }
    return render("submissions.html", context)


async def _base_context(session: AsyncSession, user: User) -> dict[str, Any]:
    return {
        "user": user,
        "points": await grading.total_points(session, user_id=user.id),
        "last_event_id": await latest_event_id(session, user_id=user.id),
    }


def error_page(
    request: Request, *, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    return templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message},
        status_code=status,
        headers=headers,
    )
