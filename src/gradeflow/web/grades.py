"""Grade pages: a student's own grades and a course's gradebook for its teachers.

Both read through the same service functions as ``/api/me/grades`` and
``/api/courses/{id}/grades``; the gradebook's sorting and cell history are
``static/gradebook.js`` over the JSON API.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from gradeflow.courses.members import visible_courses
from gradeflow.deps import AccountHolder, DbSession, TaughtCoursePage
from gradeflow.grades import gradebook
from gradeflow.grades.export import format_number
from gradeflow.web.pages import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/grades")
async def own_grades_page(session: DbSession, user: AccountHolder) -> str:
    courses = await gradebook.own_grades(session, user_id=user.id)
    taught = [
        access.course for access in await visible_courses(session, user=user) if access.teaches
    ]
    context = {"user": user, "courses": courses, "taught": taught, "number": format_number}
    return render("grades.html", context)


@router.get("/courses/{course_id:int}/gradebook")
async def gradebook_page(session: DbSession, user: AccountHolder, course: TaughtCoursePage) -> str:
    context = {
        "user": user,
        "course": course,
        "columns": await gradebook.gradebook_columns(session, course_id=course.id),
        "rows": await gradebook.all_gradebook_rows(session, course_id=course.id),
        "number": format_number,
    }
    return render("gradebook.html", context)
