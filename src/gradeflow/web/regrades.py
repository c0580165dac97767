"""Teacher pages for regrade previews: start one, watch it grade, read the deltas, apply
with a policy or discard.

The page is rendered on the server; ``static/app.js`` keeps its progress live from
``regrade_preview`` events (and by polling, for a co-teacher who did not start it)
and reloads it when the preview's status changes.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import User
from gradeflow.courses.members import taught_course
from gradeflow.courses.models import Assignment
from gradeflow.courses.service import get_assignment
from gradeflow.db import savepoint
from gradeflow.deps import AppRuntime, DbSession, OptionalUser, PathId
from gradeflow.errors import Conflict, Forbidden, GradeflowError, Invalid, NotFound
from gradeflow.events.service import latest_event_id
from gradeflow.grading import previews
from gradeflow.grading.deltas import POLICIES, Policy
from gradeflow.grading.models import Regrade, RegradeKind
from gradeflow.web.forms import CheckedForm, FormToken, text_field
from gradeflow.web.pages import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


def _page_path(assignment_id: int, preview_id: int | None = None) -> str:
    path = f"/assignments/{assignment_id}/regrade-preview"
    return path if preview_id is None else f"{path}/{preview_id}"


async def _taught_assignment(session: AsyncSession, user: User, assignment_id: int) -> Assignment:
    """The assignment, drafts included, if ``user`` teaches its course."""
    assignment = await get_assignment(session, assignment_id=assignment_id, include_drafts=True)
    try:
        await taught_course(session, course_id=assignment.course_id, user=user)
    except Forbidden:
        if not assignment.published:  # a draft stays unseen by anyone but its teachers
            raise NotFound("No such assignment.") from None
        raise
    return assignment


async def _draft_page(
    session: AsyncSession, user: User, csrf: str, assignment: Assignment
) -> HTMLResponse:
    """What a draft's regrade page says: there is nothing to regrade yet (409)."""
    context = await _context(session, user, csrf, assignment=assignment, previews=[], draft=True)
    return HTMLResponse(render("regrade_start.html", context), status_code=409)


async def _preview_of(session: AsyncSession, assignment: Assignment, preview_id: int) -> Regrade:
    preview = await previews.get_preview(session, preview_id=preview_id)
    if preview.assignment_id != assignment.id:
        raise NotFound("No such regrade preview.")
    return preview


def _signed_in(user: User | None) -> User | None:
    return None if user is None or user.is_anonymous else user


def _sign_in_first(path: str) -> RedirectResponse:
    return _redirect(f"/sign-in?next={path}")


async def _context(session: AsyncSession, user: User, csrf: str, **extra: Any) -> dict[str, Any]:
    return {
        "user": user,
        "csrf": csrf,
        "last_event_id": await latest_event_id(session, user_id=user.id),
    } | extra


@router.get("/assignments/{assignment_id:int}/regrade-preview", response_model=None)
async def start_page(
    assignment_id: PathId, session: DbSession, user: OptionalUser, csrf: FormToken
) -> Response | str:
    teacher = _signed_in(user)
    if teacher is None:
        return _sign_in_first(_page_path(assignment_id))
    assignment = await _taught_assignment(session, teacher, assignment_id)
    if not assignment.published:
        return await _draft_page(session, teacher, csrf, assignment)
    listed = await previews.list_previews(session, assignment_id=assignment.id)
    context = await _context(session, teacher, csrf, assignment=assignment, previews=listed)
    return render("regrade_start.html", context)


@router.post("/assignments/{assignment_id:int}/regrade-preview", response_model=None)
async def start(
    assignment_id: PathId,
    runtime: AppRuntime,
    session: DbSession,
    user: OptionalUser,
    form: CheckedForm,
    csrf: FormToken,
) -> Response:
    teacher = _signed_in(user)
    if teacher is None:
        return _sign_in_first(_page_path(assignment_id))
    assignment = await _taught_assignment(session, teacher, assignment_id)
    if not assignment.published:
        return await _draft_page(session, teacher, csrf, assignment)
    try:
        async with savepoint(session):
            preview = await previews.start_preview(
                session, outbox=runtime.outbox, assignment=assignment, teacher=teacher
            )
    except Conflict as exc:
        details = exc.details or {}
        if details.get("kind") == RegradeKind.preview.value:
            return _redirect(_page_path(assignment_id, details["regrade_id"]))
        listed = await previews.list_previews(session, assignment_id=assignment_id)
        context = await _context(
            session, teacher, csrf, assignment=assignment, previews=listed, error=exc.message
        )
        return HTMLResponse(render("regrade_start.html", context), status_code=exc.status_code)
    return _redirect(_page_path(assignment_id, preview.id))


@router.get(
    "/assignments/{assignment_id:int}/regrade-preview/{preview_id:int}", response_model=None
)
async def preview_page(
    assignment_id: PathId,
    preview_id: PathId,
    session: DbSession,
    user: OptionalUser,
    csrf: FormToken,
    policy: Policy | None = None,
) -> Response | str:
    teacher = _signed_in(user)
    if teacher is None:
        return _sign_in_first(_page_path(assignment_id, preview_id))
    assignment = await _taught_assignment(session, teacher, assignment_id)
    preview = await _preview_of(session, assignment, preview_id)
    return render(
        "regrade_preview.html",
        await _preview_context(session, teacher, csrf, assignment, preview, policy),
    )


async def _preview_context(
    session: AsyncSession,
    user: User,
    csrf: str,
    assignment: Assignment,
    preview: Regrade,
    policy: Policy | None,
    error: str | None = None,
) -> dict[str, Any]:
    report = await previews.preview_report(session, preview, policy=policy)
    return await _context(
        session, user, csrf, assignment=assignment, report=report, policies=POLICIES, error=error
    )


@router.post(
    "/assignments/{assignment_id:int}/regrade-preview/{preview_id:int}/{action}",
    response_model=None,
)
async def close(
    assignment_id: PathId,
    preview_id: PathId,
    action: Literal["apply", "discard"],
    runtime: AppRuntime,
    session: DbSession,
    user: OptionalUser,
    form: CheckedForm,
    csrf: FormToken,
) -> Response:
    """Apply the preview with the form's policy, or discard it."""
    teacher = _signed_in(user)
    if teacher is None:
        return _sign_in_first(_page_path(assignment_id, preview_id))
    assignment = await _taught_assignment(session, teacher, assignment_id)
    preview = await _preview_of(session, assignment, preview_id)
    try:
        async with savepoint(session):
            if action == "apply":
                policy = text_field(form, "policy")
                if policy not in POLICIES:
                    raise Invalid(
                        "Choose how to apply: the new score, or the higher of old and new."
                    )
                await previews.apply_preview(
                    session, outbox=runtime.outbox, preview=preview, policy=policy, by=teacher
                )
            else:
                await previews.discard_preview(
                    session, outbox=runtime.outbox, preview=preview, by=teacher
                )
    except GradeflowError as exc:
        preview = await _preview_of(session, assignment, preview_id)
        context = await _preview_context(
            session, teacher, csrf, assignment, preview, None, error=exc.message
        )
        return HTMLResponse(render("regrade_preview.html", context), status_code=exc.status_code)
    return _redirect(_page_path(assignment_id, preview_id))
