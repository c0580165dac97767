"""Teacher pages for authoring a course's assignments: the list, new and edit forms.

The forms post (with CSRF) to the same service as the JSON API, so they are
checked by the same rules; a refused form is shown again with every problem next to
what was typed. The live parts are ``static/app.js``: the handout preview (through
``POST /api/handout-preview``) and the check's state (from ``/api/events``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from gradeflow.accounts.models import User
from gradeflow.body_limit import set_body_limit
from gradeflow.courses import authoring
from gradeflow.courses.format import MAX_SUPPORT_FILES, AssignmentFormatError
from gradeflow.courses.handout import render_handout
from gradeflow.courses.models import Course
from gradeflow.db import savepoint
from gradeflow.deps import AccountHolder, AppRuntime, DbSession, PathId, TaughtCoursePage
from gradeflow.errors import GradeflowError, TooLarge
from gradeflow.events.service import latest_event_id
from gradeflow.grading.checks import save_assignment
from gradeflow.web.forms import FormToken, read_checked_form
from gradeflow.web.pages import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

TEXT_FIELDS = ("slug", "title", "handout_md", "starter", "tests", "solution", "scoring", "module")
# What a score is graded by: a save that changes any of these leaves the scores students
# already have under the old rules until a regrade, and the edit page says so.
GRADING_RULES = (
    "points",
    "scoring",
    "tests",
    "module",
    "time_limit_s",
    "memory_mb",
    "support_files",
)
INTEGER_FIELDS = ("order", "points", "memory_mb")
MAX_FIELDS = 20 + 2 * MAX_SUPPORT_FILES


async def _read_form(request: Request, runtime: AppRuntime) -> FormData:
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > authoring.MAX_AUTHORED_BYTES:
        raise TooLarge("The form is larger than an assignment may be.")
    # The same bound for a form sent without a length, counted as it arrives.
    set_body_limit(request.scope, authoring.MAX_AUTHORED_BYTES)
    return await read_checked_form(request, runtime, max_fields=MAX_FIELDS)


def _number(text: str, kind: type[int] | type[float]) -> object:
    """A typed number, the text itself if it is none (the validator names the field), or None."""
    text = text.strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        return text


def form_fields(form: FormData) -> dict[str, Any]:
    """The form as the API's fields; support files as (path, text) rows."""
    fields: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = form.get(name)
        # Browsers send CRLF line ends from textareas; the files are written with LF.
        fields[name] = value.replace("\r\n", "\n") if isinstance(value, str) else None
    for name in ("scoring", "module"):
        fields[name] = (fields[name] or "").strip() or None
    for name in INTEGER_FIELDS:
        value = form.get(name)
        fields[name] = _number(value, int) if isinstance(value, str) else None
    limit = form.get("time_limit_s")
    fields["time_limit_s"] = _number(limit, float) if isinstance(limit, str) else None
    paths = [p for p in form.getlist("support_path") if isinstance(p, str)]
    texts = [t for t in form.getlist("support_content") if isinstance(t, str)]
    fields["support_files"] = {
        path.strip(): text.replace("\r\n", "\n")
        for path, text in zip(paths, texts, strict=False)
        if path.strip()
    }
    return fields


def _page(context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    return HTMLResponse(render("authoring_form.html", _with_preview(context)), status_code=status)


async def _context(
    session: DbSession,
    user: User,
    course: Course,
    csrf: str,
    *,
    last_event_id: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """``last_event_id``: read before the state the page shows, where it shows live
    state; read after it, an event committed in between would be skipped by the
    page's stream, and the page would never see that change."""
    if last_event_id is None:
        last_event_id = await latest_event_id(session, user_id=user.id)
    return {
        "user": user,
        "csrf": csrf,
        "course": course,
        "last_event_id": last_event_id,
        "scorings": ["all-or-nothing", "proportional"],
    } | extra


def _with_preview(context: dict[str, Any]) -> dict[str, Any]:
    handout = context["assignment"].get("handout_md") or ""
    return context | {"preview_html": render_handout(handout)}


def _refused(exc: GradeflowError) -> dict[str, Any]:
    problems = exc.problems if isinstance(exc, AssignmentFormatError) else []
    by_field: dict[str, list[str]] = {}
    for problem in problems:
        field = (problem.field or "").split("/")[0]
        line = f"line {problem.line}: " if problem.line else ""
        by_field.setdefault(field, []).append(line + problem.message)
    return {"error": exc.message, "field_errors": by_field}


@router.get("/courses/{course_id:int}/assignments", response_model=None)
async def assignments_page(
    session: DbSession,
    user: AccountHolder,
    course: TaughtCoursePage,
) -> Response | str:
    # The stream's starting point before the state it updates (see ``_context``).
    last_event_id = await latest_event_id(session, user_id=user.id)
    rows = await authoring.authored_assignments(session, course=course)
    return render(
        "authoring_list.html",
        {
            "user": user,
            "course": course,
            "items": [authoring.describe_authored(a, d) for a, d in rows],
            "last_event_id": last_event_id,
        },
    )


@router.get("/courses/{course_id:int}/assignments/new", response_model=None)
async def new_assignment_page(
    session: DbSession,
    user: AccountHolder,
    course: TaughtCoursePage,
    csrf: FormToken,
) -> Response | str:
    empty: dict[str, Any] = {"support_files": {}, "binary_support_files": [], "check": None}
    context = await _context(session, user, course, csrf, assignment=empty, field_errors={})
    return render("authoring_form.html", _with_preview(context))


@router.post("/courses/{course_id:int}/assignments/new")
async def create_assignment(
    request: Request,
    runtime: AppRuntime,
    session: DbSession,
    user: AccountHolder,
    course: TaughtCoursePage,
    csrf: FormToken,
) -> Response:
    fields = form_fields(await _read_form(request, runtime))
    try:
        async with savepoint(session):
            saved = await save_assignment(
                session, outbox=runtime.outbox, course=course, user=user, changes=fields
            )
    except GradeflowError as exc:
        shown = fields | {"binary_support_files": [], "check": None}
        context = await _context(session, user, course, csrf, assignment=shown, **_refused(exc))
        return _page(context, status=exc.status_code)
    target = f"/courses/{course.id}/assignments/{saved.assignment.id}/edit"
    return RedirectResponse(target, status_code=303)


@router.get("/courses/{course_id:int}/assignments/{assignment_id:int}/edit", response_model=None)
async def edit_assignment_page(
    assignment_id: PathId,
    session: DbSession,
    user: AccountHolder,
    course: TaughtCoursePage,
    csrf: FormToken,
    changed: str | None = None,
) -> Response | str:
    """``changed=rules``: the save that led here changed how scores are graded."""
    last_event_id = await latest_event_id(session, user_id=user.id)  # before the state
    assignment, draft = await authoring.authored_assignment(
        session, course=course, assignment_id=assignment_id
    )
    view = authoring.describe_authored(assignment, draft, full=True)
    context = await _context(
        session,
        user,
        course,
        csrf,
        last_event_id=last_event_id,
        assignment=view,
        field_errors={},
        rules_changed=changed == "rules",
    )
    return render("authoring_form.html", _with_preview(context))


@router.post("/courses/{course_id:int}/assignments/{assignment_id:int}/edit")
async def update_assignment(
    assignment_id: PathId,
    request: Request,
    runtime: AppRuntime,
    session: DbSession,
    user: AccountHolder,
    course: TaughtCoursePage,
    csrf: FormToken,
) -> Response:
    assignment, draft = await authoring.authored_assignment(
        session, course=course, assignment_id=assignment_id
    )
    before = authoring.describe_authored(assignment, draft, full=True)
    fields = form_fields(await _read_form(request, runtime))
    # The form shows every text support file: one it no longer lists was removed.
    removed = {
        path: None for path in before["support_files"] if path not in fields["support_files"]
    }
    changes = fields | {"support_files": fields["support_files"] | removed}
    try:
        async with savepoint(session):
            saved = await save_assignment(
                session,
                outbox=runtime.outbox,
                course=course,
                user=user,
                changes=changes,
                assignment=assignment,
            )
    except GradeflowError as exc:
        shown = before | {k: v for k, v in fields.items() if v is not None}
        context = await _context(
            session,
            user,
            course,
            csrf,
            assignment=shown,
            **_refused(exc),
        )
        return _page(context, status=exc.status_code)
    after = authoring.describe_authored(saved.assignment, saved.draft, full=True)
    # A draft has no scores yet: only a published assignment's can be left behind.
    if assignment.published and any(before[rule] != after[rule] for rule in GRADING_RULES):
        return RedirectResponse(f"{request.url.path}?changed=rules", status_code=303)
    return RedirectResponse(request.url.path, status_code=303)
