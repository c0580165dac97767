"""Pages of stuck submissions: a course's for its teachers, every course's for admins.

Rendered on the server (a list that works without JavaScript); ``static/stuck.js``
re-runs a row with ``POST /api/submissions/{id}/rerun`` and reads the list again
every 15 s, so it stays current while an operator watches it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import Role
from gradeflow.deps import AccountHolder, AppRuntime, DbSession, TaughtCoursePage, require_role
from gradeflow.grading.stuck import describe_stuck, list_stuck
from gradeflow.runtime import Runtime
from gradeflow.web.pages import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


async def _listed(session: AsyncSession, runtime: Runtime, course_id: int | None) -> dict[str, Any]:
    threshold_s = runtime.settings.stuck_after_s
    found = await list_stuck(
        session, stuck_after=dt.timedelta(seconds=threshold_s), course_id=course_id
    )
    return {"threshold_s": threshold_s, "submissions": [describe_stuck(s) for s in found]}


@router.get("/courses/{course_id:int}/stuck")
async def course_stuck_page(
    course: TaughtCoursePage, runtime: AppRuntime, session: DbSession, user: AccountHolder
) -> str:
    listed = await _listed(session, runtime, course.id)
    context = {
        "user": user,
        "course": course,
        "listed": listed,
        "api_path": f"/api/courses/{course.id}/stuck-submissions",
    }
    return render("stuck.html", context)


@router.get("/admin/stuck")
async def all_stuck_page(runtime: AppRuntime, session: DbSession, user: AccountHolder) -> str:
    require_role(user, Role.admin)
    listed = await _listed(session, runtime, None)
    context = {
        "user": user,
        "course": None,
        "listed": listed,
        "api_path": "/api/stuck-submissions",
    }
    return render("stuck.html", context)
