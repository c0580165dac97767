"""Cached read models of assignments, shared by every student."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.courses.handout import render_handout
from gradeflow.courses.members import PracticeScope
from gradeflow.courses.models import Assignment, Course
from gradeflow.courses.service import get_assignment, list_assignments
from gradeflow.infra.cache import Cache, cached, cached_as_is

ASSIGNMENTS_NAMESPACE = "assignments"


def course_ref(course: Course) -> dict[str, Any]:
    return {
        "id": course.id,
        "slug": course.slug,
        "title": course.title,
        "public": course.public,
        "archived": course.archived,
    }


def assignment_summary(assignment: Assignment) -> dict[str, Any]:
    return {
        "id": assignment.id,
        "course": course_ref(assignment.course),
        "slug": assignment.slug,
        "title": assignment.title,
        "order": assignment.order,
        "points": assignment.points,
        "scoring": assignment.scoring.value,
    }


def assignment_detail(assignment: Assignment) -> dict[str, Any]:
    return assignment_summary(assignment) | {
        "module": assignment.module,
        "handout_html": render_handout(assignment.handout_md),
        "starter": assignment.starter,
        "time_limit_s": assignment.time_limit_s,
        "tests": list(assignment.test_ids),
    }


async def practice_summaries(
    session: AsyncSession, cache: Cache, *, scope: PracticeScope, course_id: int | None = None
) -> list[dict[str, Any]]:
    """The assignments ``scope`` lets its user practise (of one course, if given), in
    practice order. One cached list serves everyone; the scope filters it.

    The list is shared as it is (decoding a copy of every assignment for every caller
    would cost more than the rest of the read): callers must not change its items.
    """

    async def load() -> tuple[dict[str, Any], ...]:
        return tuple(assignment_summary(a) for a in await list_assignments(session))

    summaries = await cached_as_is(cache, (ASSIGNMENTS_NAMESPACE,), "list", load)
    return [
        item
        for item in summaries
        if scope.includes(
            course_id=item["course"]["id"],
            public=item["course"]["public"],
            archived=item["course"]["archived"],
        )
        and (course_id is None or item["course"]["id"] == course_id)
    ]


async def assignment_details(
    session: AsyncSession, cache: Cache, *, assignment_id: int
) -> dict[str, Any]:
    async def load() -> dict[str, Any]:
        return assignment_detail(await get_assignment(session, assignment_id=assignment_id))

    detail: dict[str, Any] = await cached(
        cache, ASSIGNMENTS_NAMESPACE, f"detail:{assignment_id}", load
    )
    return detail
