"""Course pages: the courses a user may see, joining and creating one, and a
course's own page, where its teachers manage students, co-teachers, the join code
and its settings.

Every form post goes through ``CheckedForm`` (CSRF) to the same functions as the
JSON API under ``/api/courses``; a refused form shows the page again with the reason.
The roster form is multipart: ``receive_checked_upload`` checks its token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import Role, User
from gradeflow.courses import members
from gradeflow.courses.members import CourseAccess
from gradeflow.courses.models import Assignment, Course, MemberRole
from gradeflow.db import savepoint, transaction
from gradeflow.deps import (
    AccountHolder,
    AppRuntime,
    DbSession,
    OptionalUser,
    PathId,
    SignInRequired,
    TaughtCoursePage,
    optional_user,
    require_role,
)
from gradeflow.errors import GradeflowError, Invalid
from gradeflow.grades import roster
from gradeflow.web.forms import CheckedForm, FormToken, receive_checked_upload, text_field
from gradeflow.web.pages import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


def _refused(name: str, context: dict[str, Any], error: GradeflowError) -> HTMLResponse:
    page = render(name, context | {"error": error.message})
    return HTMLResponse(page, status_code=error.status_code)


async def _courses_context(
    session: AsyncSession, user: User | None, csrf: str, **extra: Any
) -> dict[str, Any]:
    visible = await members.visible_courses(session, user=user)
    return {
        "user": user,
        "csrf": csrf,
        "teaching": [a.course for a in visible if a.teaches],
        "enrolled": [a.course for a in visible if a.role is MemberRole.student],
        "public": [a.course for a in visible if a.role is None],
        "can_create": user is not None and user.role in (Role.teacher, Role.admin),
    } | extra


@router.get("/courses")
async def courses_page(session: DbSession, user: OptionalUser, csrf: FormToken) -> str:
    return render("courses.html", await _courses_context(session, user, csrf))


@router.post("/courses")
async def create_course(
    session: DbSession, user: AccountHolder, form: CheckedForm, csrf: FormToken
) -> Response:
    typed = {
        "slug": text_field(form, "slug", max_length=200),
        "title": text_field(form, "title", max_length=400),
    }
    try:
        async with savepoint(session):
            require_role(user, Role.teacher, Role.admin)
            course = await members.create_course(
                session,
                teacher=user,
                slug=typed["slug"].strip(),
                title=typed["title"],
                description=text_field(form, "description", max_length=20_000),
                public=form.get("public") == "on",
            )
    except GradeflowError as exc:
        context = await _courses_context(session, user, csrf, typed=typed)
        return _refused("courses.html", context, exc)
    return _redirect(f"/courses/{course.id}")


@router.post("/courses/join")
async def join_course(
    session: DbSession, user: AccountHolder, form: CheckedForm, csrf: FormToken
) -> Response:
    try:
        async with savepoint(session):
            course = await members.join_with_code(
                session, user=user, code=text_field(form, "code", max_length=64)
            )
    except GradeflowError as exc:
        return _refused("courses.html", await _courses_context(session, user, csrf), exc)
    return _redirect(f"/courses/{course.id}")


async def _course_context(
    session: AsyncSession, access: CourseAccess, user: User | None, csrf: str
) -> dict[str, Any]:
    course = access.course
    assignments = await session.scalar(
        select(func.count(Assignment.id)).where(
            Assignment.course_id == course.id, Assignment.published.is_(True)
        )
    )
    context: dict[str, Any] = {
        "user": user,
        "csrf": csrf,
        "course": course,
        "role": access.role,
        "teaches": access.teaches,
        "assignment_count": assignments or 0,
    }
    if access.teaches:
        context |= {
            "students": await members.list_members(session, course, role=MemberRole.student),
            "teachers": await members.list_members(session, course, role=MemberRole.teacher),
        }
    return context


@router.get("/courses/{course_id:int}")
async def course_page(
    course_id: PathId, session: DbSession, user: OptionalUser, csrf: FormToken
) -> str:
    access = await members.course_access(session, course_id=course_id, user=user)
    return render("course.html", await _course_context(session, access, user, csrf))


async def _teacher_form(
    session: AsyncSession, course: Course, user: User, csrf: str, change: Any
) -> Response:
    """Run ``change`` (a coroutine function of nothing) and go back to the course page,
    or show the page again with the reason it was refused."""
    try:
        async with savepoint(session):
            await change()
    except GradeflowError as exc:
        access = CourseAccess(course, MemberRole.teacher)
        return _refused("course.html", await _course_context(session, access, user, csrf), exc)
    return _redirect(f"/courses/{course.id}")


@router.post("/courses/{course_id:int}/students")
async def enrol_student(
    course: TaughtCoursePage,
    session: DbSession,
    user: AccountHolder,
    form: CheckedForm,
    csrf: FormToken,
) -> Response:
    email = text_field(form, "email", max_length=320)

    async def change() -> None:
        await members.enrol_student(session, course, email=email)

    return await _teacher_form(session, course, user, csrf, change)


@router.post("/courses/{course_id:int}/roster")
async def upload_roster(
    course_id: PathId, request: Request, runtime: AppRuntime, csrf: FormToken
) -> Response:
    """Enrol every student a roster file names, as ``POST /api/courses/{id}/roster`` does;
    the course page then says how many, or lists each row's error (nobody enrolled)."""
    # No session held while the file streams in: each step has a unit of work of its own.
    async with transaction(runtime.session_factory) as session:
        user = await optional_user(request, session)
        if user is None or user.is_anonymous:
            raise SignInRequired(f"/courses/{course_id}")
        course = await members.taught_course(session, course_id=course_id, user=user)
    form = await receive_checked_upload(request, runtime, max_file_bytes=roster.MAX_ROSTER_BYTES)
    assert form.file is not None
    status = 200
    try:
        result = await roster.enrol_received_roster(
            runtime.session_factory, blobs=runtime.blobs, course_id=course_id, received=form.file
        )
        outcome: dict[str, Any] = {
            "filename": form.file.filename,
            "rows": result.rows,
            "enrolled": result.enrolled,
            "already_enrolled": result.already_enrolled,
        }
    except Invalid as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        outcome = {
            "filename": form.file.filename,
            "error": exc.message,
            "errors": details.get("errors", []),
            "errors_total": details.get("errors_total", 0),
        }
        status = exc.status_code
    async with runtime.session_factory() as session:
        access = CourseAccess(course, MemberRole.teacher)
        context = await _course_context(session, access, user, csrf)
    return HTMLResponse(render("course.html", context | {"roster": outcome}), status_code=status)


@router.post("/courses/{course_id:int}/students/{user_id:int}/remove")
async def remove_student(
    course: TaughtCoursePage,
    user_id: PathId,
    session: DbSession,
    user: AccountHolder,
    form: CheckedForm,
    csrf: FormToken,
) -> Response:
    async def change() -> None:
        await members.remove_student(session, course, user_id=user_id)

    return await _teacher_form(session, course, user, csrf, change)


@router.post("/courses/{course_id:int}/teachers")
async def add_teacher(
    course: TaughtCoursePage,
    session: DbSession,
    user: AccountHolder,
    form: CheckedForm,
    csrf: FormToken,
) -> Response:
    email = text_field(form, "email", max_length=320)

    async def change() -> None:
        await members.add_teacher(session, course, email=email)

    return await _teacher_form(session, course, user, csrf, change)


@router.post("/courses/{course_id:int}/join-code")
async def join_code(
    course: TaughtCoursePage,
    session: DbSession,
    user: AccountHolder,
    form: CheckedForm,
    csrf: FormToken,
) -> Response:
    close = form.get("action") == "close"

    async def change() -> None:
        if close:
            await members.close_joining(session, course)
        else:
            await members.new_join_code(session, course)

    return await _teacher_form(session, course, user, csrf, change)


@router.post("/courses/{course_id:int}/settings")
async def course_settings(
    course: TaughtCoursePage,
    session: DbSession,
    user: AccountHolder,
    form: CheckedForm,
    csrf: FormToken,
) -> Response:
    async def change() -> None:
        await members.update_course(
            session,
            course,
            title=text_field(form, "title", max_length=400),
            description=text_field(form, "description", max_length=20_000),
            public=form.get("public") == "on",
            archived=form.get("archived") == "on",
        )

    return await _teacher_form(session, course, user, csrf, change)
