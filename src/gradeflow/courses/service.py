"""Storing imported courses and reading assignments for students.

Students only ever see published assignments: every read here leaves drafts out
unless its caller (a teacher's view) asks for them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gradeflow.courses.format import AssignmentSpec, CourseSpec, Scoring
from gradeflow.courses.members import PracticeScope
from gradeflow.courses.models import Assignment, AssignmentDraft, Course
from gradeflow.errors import NotFound


@dataclass(frozen=True)
class ImportReport:
    course: Course
    created: list[str]
    updated: list[str]
    unchanged: list[str]


def spec_content(spec: AssignmentSpec, *, order: int) -> dict[str, Any]:
    """The assignment columns ``spec`` fills, as JSON values (what a draft keeps)."""
    return {
        "title": spec.title,
        "order": order,
        "points": spec.points,
        "scoring": spec.scoring.value,
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


def assignment_content(assignment: Assignment) -> dict[str, Any]:
    """The row's columns that ``spec_content`` names, as the same JSON values."""
    content = {name: getattr(assignment, name) for name in CONTENT_COLUMNS}
    return content | {"scoring": assignment.scoring.value}


def content_spec(content: dict[str, Any], *, slug: str) -> AssignmentSpec:
    """The spec a content dict was made from (validated when it was stored)."""
    return AssignmentSpec(
        title=content["title"],
        order=content["order"],
        points=content["points"],
        scoring=Scoring(content["scoring"]),
        module=content["module"],
        time_limit_s=content["time_limit_s"],
        memory_mb=content["memory_mb"],
        slug=slug,
        handout_md=content["handout_md"],
        starter=content["starter"],
        tests=content["tests"],
        solution=content["solution"],
        support_files={p: base64.b64decode(d) for p, d in content["support_files"].items()},
        test_ids=list(content["test_ids"]),
        source=None,
    )


def apply_content(assignment: Assignment, content: dict[str, Any]) -> bool:
    """Copy ``content`` onto the row; True when anything changed."""
    changed = False
    for name in CONTENT_COLUMNS:
        value = Scoring(content[name]) if name == "scoring" else content[name]
        if getattr(assignment, name, None) != value:
            setattr(assignment, name, value)
            changed = True
    return changed


CONTENT_COLUMNS = (
    "title",
    "order",
    "points",
    "scoring",
    "module",
    "time_limit_s",
    "memory_mb",
    "handout_md",
    "starter",
    "tests",
    "solution",
    "support_files",
    "test_ids",
    "revision",
)


def _apply_spec(assignment: Assignment, spec: AssignmentSpec, order: int) -> bool:
    """Copy ``spec`` onto the row and publish it; True when anything changed."""
    changed = apply_content(assignment, spec_content(spec, order=order))
    if not assignment.published:
        assignment.published = True
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
    # The imported directory, checked by the CLI, is now each assignment's truth: a
    # working copy from the browser would otherwise replace it once its check passed.
    imported = [existing[slug].id for slug in report.updated + report.unchanged]
    if imported:
        await session.execute(
            delete(AssignmentDraft).where(AssignmentDraft.assignment_id.in_(imported))
        )
    return report


async def course_exists(session: AsyncSession, *, slug: str) -> bool:
    return await session.scalar(select(Course.id).where(Course.slug == slug)) is not None


async def list_assignments(
    session: AsyncSession,
    *,
    course_id: int | None = None,
    scope: PracticeScope | None = None,
    include_drafts: bool = False,
) -> list[Assignment]:
    """Published assignments (drafts too if asked) in practice order (by course, then
    ``order``, then slug): all of them, or one course's, or those ``scope`` lets its
    user practise."""
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
    if not include_drafts:
        query = query.where(Assignment.published.is_(True))
    return list(await session.scalars(query))


async def get_assignment(
    session: AsyncSession, *, assignment_id: int, include_drafts: bool = False
) -> Assignment:
    """A published assignment (or a draft, if asked); a draft is "not found" to students."""
    assignment = await session.get(
        Assignment, assignment_id, options=[joinedload(Assignment.course)]
    )
    if assignment is None or not (assignment.published or include_drafts):
        raise NotFound("No such assignment.")
    return assignment
