"""Storing imported courses and reading assignments for students."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gradeflow.courses.format import AssignmentSpec, CourseSpec
from gradeflow.courses.members import PracticeScope
from gradeflow.courses.models import Assignment, Course
from gradeflow.errors import NotFound


@dataclass(frozen=True)
class ImportReport:
    course: Course
    created: list[str]
    updated: list[str]
    unchanged: list[str]


def _apply_spec(assignment: Assignment, spec: AssignmentSpec, order: int) -> bool:
    """Copy ``spec`` onto the row; True when anything changed."""
    values = {
        "title": spec.title,
        "order": order,
        "points": spec.points,
        "scoring": spec.scoring,
        "module": spec.module,
        "time_limit_s": spec.time_limit_s,
        "memory_mb": spec.memory_mb,
        "handout_md": spec.handout_md,
        "starter": spec.starter,
        "tests": spec.tests,
        "solution": spec.solution,
        "support_files": {
            path: base64.b64encode(data).decode() for path, data in spec.support_files.items()
        },
        "test_ids": list(spec.test_ids),
        "revision": spec.revision,
    }
    changed = False
    for name, value in values.items():
        if getattr(assignment, name, None) != value:
            setattr(assignment, name, value)
            changed = True
    return changed


async def import_course(session: AsyncSession, *, spec: CourseSpec) -> ImportReport:
    """Create or update the course and its assignments in place, matched by slug.

    Assignments missing from the directory are kept: they hold students' work.
    """
    course = await session.scalar(select(Course).where(Course.slug == spec.slug))
    if course is None:
        course = Course(slug=spec.slug, title=spec.title, description=spec.description)
        session.add(course)
        await session.flush()
    elif not spec.partial:
        course.title, course.description = spec.title, spec.description
    existing = {
        a.slug: a
        for a in await session.scalars(select(Assignment).where(Assignment.course_id == course.id))
    }
    report = ImportReport(course, [], [], [])
    next_order = max((a.order for a in existing.values()), default=0) + 1
    for position, assignment_spec in enumerate(spec.assignments, start=1):
        if spec.partial:
            current = existing.get(assignment_spec.slug)
            fallback = current.order if current is not None else next_order
            order = assignment_spec.order if assignment_spec.order is not None else fallback
        else:
            order = assignment_spec.order if assignment_spec.order is not None else position
        row = existing.get(assignment_spec.slug)
        if row is None:
            row = Assignment(course_id=course.id, slug=assignment_spec.slug)
            _apply_spec(row, assignment_spec, order)
            session.add(row)
            report.created.append(assignment_spec.slug)
        elif _apply_spec(row, assignment_spec, order):
            report.updated.append(assignment_spec.slug)
        else:
            report.unchanged.append(assignment_spec.slug)
    await session.flush()
    return report


async def course_exists(session: AsyncSession, *, slug: str) -> bool:
    return await session.scalar(select(Course.id).where(Course.slug == slug)) is not None


async def list_assignments(
    session: AsyncSession, *, course_id: int | None = None, scope: PracticeScope | None = None
) -> list[Assignment]:
    """Assignments in practice order (by course, then ``order``, then slug): all of
    them, or those of one course, or those ``scope`` lets its user practise."""
    query = (
        select(Assignment)
        .join(Course)
        .options(joinedload(Assignment.course))
        .order_by(Course.id, Assignment.order, Assignment.slug)
    )
    if course_id is not None:
        query = query.where(Assignment.course_id == course_id)
    if scope is not None:
        query = query.where(scope.condition())
    return list(await session.scalars(query))


async def get_assignment(session: AsyncSession, *, assignment_id: int) -> Assignment:
    assignment = await session.get(
        Assignment, assignment_id, options=[joinedload(Assignment.course)]
    )
    if assignment is None:
        raise NotFound("No such assignment.")
    return assignment
