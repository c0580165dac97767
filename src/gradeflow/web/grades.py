"""Grade pages: a student's own grades and a course's gradebook for its teachers.

Both read through the same service functions as ``/api/me/grades`` and
``/api/courses/{id}/grades``; the gradebook's sorting and cell history are
``static/gradebook.js`` over the JSON API.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gradeflow.courses.members import taught_course, visible_courses
from gradeflow.deps import DbSession, OptionalUser, PathId
from gradeflow.grades import gradebook
from gradeflow.grades.export import format_number
from gradeflow.web.pages import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _sign_in(target: str) -> RedirectResponse:
    return RedirectResponse(f"/sign-in?next={target}", status_code=303)


@router.get("/grades", response_model=None)
async def own_grades_page(session: DbSession, user: OptionalUser) -> Response | str:
    if user is None or user.is_anonymous:
        return _sign_in("/grades")
    courses = await gradebook.own_grades(session, user_id=user.id)
    taught = [
        access.course for access in await visible_courses(session, user=user) if access.teaches
    ]
    context = {"user": user, "courses": courses, "taught": taught, "number": format_number}
    return render("grades.html", context)


@router.get("/courses/{course_id}/gradebook", response_model=None)
async def gradebook_page(
    course_id: PathId, session: DbSession, user: OptionalUser
) -> Response | str:
    if user is None or user.is_anonymous:
        return _sign_in(f"/courses/{course_id}/gradebook")
    course = await taught_course(session, course_id=course_id, user=user)
    context = {
        "user": user,
        "course": course,
        "columns": await gradebook.gradebook_columns(session, course_id=course.id),
        "rows": await gradebook.all_gradebook_rows(session, course_id=course.id),
        "number": format_number,
    }
    return render("gradebook.html", context)
