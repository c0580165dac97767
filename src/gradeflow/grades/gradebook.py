"""Reading grades: a student's own grades, a course's gradebook and a cell's history.

A grade book cell is either an assignment's best auto-graded score (the highest
score of the student's finished submissions) or an imported grade (``Grade``).
Only enrolled students appear: a user who left a course keeps their rows, unseen.
Every read is a fixed number of set-based queries, whatever the number of
students or columns; rows come in batches (``gradebook_rows``) so an export never
holds a whole course.

Totals are plain sums: the best points of every assignment plus the values of
every imported assessment. Weighting is the teacher's business, in their
spreadsheet.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import User
from gradeflow.accounts.service import normalise_email
from gradeflow.courses.models import Assignment, Course, CourseMember, MemberRole
from gradeflow.db import MAX_ID
from gradeflow.errors import NotFound
from gradeflow.grades.models import Grade, GradeChange, GradeUpload, grade_upload_rows
from gradeflow.grading.models import Submission
from gradeflow.grading.verdicts import FINAL_STATUSES

# Students' own grades are read from courses and assignments, enrolments, grades (a
# write to any purges their namespaces, see gradeflow.purges) and their submissions
# (their own namespace, purged with each result).
OWN_GRADES_NAMESPACE = "own-grades"

# Students per batch of gradebook rows: two queries each, a few hundred kB at most.
ROW_BATCH = 200


@dataclass(frozen=True)
class AssignmentScore:
    assignment_id: int
    slug: str
    title: str
    points: int  # what a fully passing submission earns
    best: float | None  # None: no graded submission yet


@dataclass(frozen=True)
class ImportedGrade:
    assessment: str
    value: float
    letter: str | None
    comment: str
    updated_at: dt.datetime


@dataclass(frozen=True)
class CourseGrades:
    """One student's grades in one course they are enrolled in."""

    course_id: int
    slug: str
    title: str
    archived: bool
    assignments: list[AssignmentScore]
    grades: list[ImportedGrade]

    @property
    def points(self) -> float:
        return round(sum(a.best or 0.0 for a in self.assignments), 2)

    @property
    def max_points(self) -> int:
        return sum(a.points for a in self.assignments)

    @property
    def total(self) -> float:
        return round(self.points + sum(g.value for g in self.grades), 2)


def _enrolled(
    course_id: ColumnExpressionArgument[int] | int, user_id: ColumnExpressionArgument[int]
) -> ColumnElement[bool]:
    return and_(
        CourseMember.course_id == course_id,
        CourseMember.user_id == user_id,
        CourseMember.role == MemberRole.student,
    )


def _best_scores() -> Select[int, int, float | None]:
    """(user, assignment, best score) over finished submissions; filtered by the caller."""
    return select(
        Submission.user_id, Submission.assignment_id, func.max(Submission.score).label("best")
    ).where(Submission.status.in_(FINAL_STATUSES))


def assessment_order(names: Iterable[str]) -> list[str]:
    """Assessments in one order everywhere: by name, ignoring case."""
    return sorted(set(names), key=lambda name: (name.casefold(), name))


# The assignment's slug, title and points are NULL only together with its id (a
# course without assignments), which the caller checks.
@cache
def _own_courses_query() -> Select[
    int, str, str, dt.datetime | None, int | None, str, str, int, float | None
]:
    """Enrolled courses ⟕ their assignments ⟕ the student's best scores, for ``:user_id``."""
    user_id = bindparam("user_id", type_=Integer)
    best = (
        _best_scores()
        .where(Submission.user_id == user_id)
        .group_by(Submission.user_id, Submission.assignment_id)
        .subquery()
    )
    return (
        select(
            Course.id,
            Course.slug,
            Course.title,
            Course.archived_at,
            Assignment.id,
            Assignment.slug,
            Assignment.title,
            Assignment.points,
            best.c.best,
        )
        .join(CourseMember, _enrolled(Course.id, user_id))
        .outerjoin(Assignment, (Assignment.course_id == Course.id) & Assignment.published.is_(True))
        .outerjoin(best, best.c.assignment_id == Assignment.id)
        .order_by(Course.title, Course.id, Assignment.order, Assignment.slug)
    )


@cache
def _own_imported_grades_query() -> Select[int, str, float, str | None, str, dt.datetime]:
    """The grades of ``:user_id`` in the courses they are enrolled in."""
    user_id = bindparam("user_id", type_=Integer)
    return (
        select(
            Grade.course_id,
            Grade.assessment,
            Grade.value,
            Grade.letter,
            Grade.comment,
            Grade.updated_at,
        )
        .join(CourseMember, _enrolled(Grade.course_id, user_id))
        .where(Grade.user_id == user_id)
    )


async def own_grades(session: AsyncSession, *, user_id: int) -> list[CourseGrades]:
    """Each course ``user_id`` is enrolled in as a student, with their grades: two queries.

    The hot path of a student's browsing: the statements are built once (see
    PERFORMANCE.md, *Grade lookups*), each request only binds the user.
    """
    rows = await session.execute(_own_courses_query(), {"user_id": user_id})
    courses: dict[int, CourseGrades] = {}
    for course_id, slug, title, archived_at, a_id, a_slug, a_title, a_points, a_best in rows:
        course = courses.get(course_id)
        if course is None:
            course = courses[course_id] = CourseGrades(
                course_id, slug, title, archived_at is not None, [], []
            )
        if a_id is not None:
            course.assignments.append(AssignmentScore(a_id, a_slug, a_title, a_points, a_best))
    if not courses:
        return []
    grades = await session.execute(_own_imported_grades_query(), {"user_id": user_id})
    for course_id, assessment, value, letter, comment, updated_at in grades:
        courses[course_id].grades.append(
            ImportedGrade(assessment, value, letter, comment, updated_at)
        )
    for course in courses.values():
        course.grades.sort(key=lambda g: (g.assessment.casefold(), g.assessment))
    return list(courses.values())


@dataclass(frozen=True)
class AssignmentColumn:
    assignment_id: int
    slug: str
    title: str
    points: int


@dataclass(frozen=True)
class GradebookColumns:
    """The columns of a course's gradebook: its assignments, then imported assessments."""

    assignments: list[AssignmentColumn]
    assessments: list[str]


@dataclass(frozen=True)
class GradeCell:
    value: float
    letter: str | None
    comment: str


@dataclass(frozen=True)
class GradebookRow:
    user_id: int
    email: str
    name: str | None
    student_number: str | None
    best: dict[int, float]  # assignment id → best score, only where there is one
    grades: dict[str, GradeCell]  # assessment → grade, only where there is one

    @property
    def total(self) -> float:
        return round(sum(self.best.values()) + sum(g.value for g in self.grades.values()), 2)


async def gradebook_columns(session: AsyncSession, *, course_id: int) -> GradebookColumns:
    """The course's assignments in course order and every assessment an enrolled student has."""
    assignments = await session.execute(
        select(Assignment.id, Assignment.slug, Assignment.title, Assignment.points)
        .where(Assignment.course_id == course_id, Assignment.published.is_(True))
        .order_by(Assignment.order, Assignment.slug)
    )
    assessments = await session.scalars(
        select(Grade.assessment)
        .join(CourseMember, _enrolled(Grade.course_id, Grade.user_id))
        .where(Grade.course_id == course_id)
        .distinct()
    )
    return GradebookColumns(
        assignments=[AssignmentColumn(*row) for row in assignments],
        assessments=assessment_order(assessments),
    )


async def gradebook_rows(
    session: AsyncSession, *, course_id: int, after_email: str | None = None, limit: int
) -> list[GradebookRow]:
    """Up to ``limit`` enrolled students by email, after ``after_email``: three queries."""
    students_query = (
        select(User.id, User.email, User.name, User.student_number)
        .join(CourseMember, _enrolled(course_id, User.id))
        .where(User.email.is_not(None))
        .order_by(User.email)
        .limit(limit)
    )
    if after_email is not None:
        students_query = students_query.where(User.email > after_email)
    students = (await session.execute(students_query)).all()
    if not students:
        return []
    ids = [row[0] for row in students]
    best: dict[int, dict[int, float]] = defaultdict(dict)
    best_rows = await session.execute(
        _best_scores()
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .where(Assignment.course_id == course_id, Submission.user_id.in_(ids))
        .group_by(Submission.user_id, Submission.assignment_id)
    )
    for user_id, assignment_id, score in best_rows:
        if score is not None:
            best[user_id][assignment_id] = score
    grades: dict[int, dict[str, GradeCell]] = defaultdict(dict)
    grade_rows = await session.execute(
        select(Grade.user_id, Grade.assessment, Grade.value, Grade.letter, Grade.comment).where(
            Grade.course_id == course_id, Grade.user_id.in_(ids)
        )
    )
    for user_id, assessment, value, letter, comment in grade_rows:
        grades[user_id][assessment] = GradeCell(value, letter, comment)
    return [
        GradebookRow(
            user_id, email or "", name, number, best.get(user_id, {}), grades.get(user_id, {})
        )
        for user_id, email, name, number in students
    ]


async def all_gradebook_rows(session: AsyncSession, *, course_id: int) -> list[GradebookRow]:
    """Every enrolled student's row, batch by batch in one session."""
    rows: list[GradebookRow] = []
    after: str | None = None
    while batch := await gradebook_rows(
        session, course_id=course_id, after_email=after, limit=ROW_BATCH
    ):
        rows.extend(batch)
        after = batch[-1].email
    return rows


async def stream_gradebook_batches(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    course_id: int,
    batch_size: int = ROW_BATCH,
) -> AsyncIterator[list[GradebookRow]]:
    """Every enrolled student's row, batch by batch, each read in a short session of its own.

    No connection is held while the caller (a slow download) consumes a batch. A
    grade changed meanwhile shows in the batches read after it, as if those rows
    had been exported a moment later.
    """
    after: str | None = None
    while True:
        async with session_factory() as session:
            batch = await gradebook_rows(
                session, course_id=course_id, after_email=after, limit=batch_size
            )
        if not batch:
            return
        yield batch
        after = batch[-1].email


@dataclass(frozen=True)
class GradeHistoryEntry:
    change_id: int
    old_value: float | None
    old_letter: str | None
    old_comment: str | None
    new_value: float | None
    new_letter: str | None
    new_comment: str | None
    changed_at: dt.datetime
    changed_by_id: int | None
    changed_by_email: str | None
    changed_by_name: str | None
    upload_id: int | None
    reason: str


async def find_course_student(session: AsyncSession, *, course_id: int, student: str) -> User:
    """A user named by id or email who is, or was, a student of the course (with grades)."""
    student = student.strip()
    missing = NotFound(f"{student!r} is not a student of this course.")
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if student.isascii() and student.isdigit():
        if int(student) > MAX_ID:
            raise missing
        condition = User.id == int(student)
    else:
        condition = User.email == normalise_email(student)
    user: User | None = await session.scalar(
        select(User).where(
            condition,
            or_(
                select(CourseMember.user_id).where(_enrolled(course_id, User.id)).exists(),
                select(GradeChange.id)
                .where(GradeChange.course_id == course_id, GradeChange.user_id == User.id)
                .exists(),
                _upload_history(course_id)
                .where(grade_upload_rows.c.user_id == User.id)
                .with_only_columns(grade_upload_rows.c.upload_id)
                .exists(),
            ),
        )
    )
    if user is None:
        raise missing
    return user


def _upload_history(course_id: int) -> Select[tuple[int]]:
    """The kept rows of the course's applied uploads: their changes (migration 0011)."""
    kept = grade_upload_rows
    return (
        select(kept.c.upload_id)
        .select_from(kept.join(GradeUpload, GradeUpload.id == kept.c.upload_id))
        .where(GradeUpload.course_id == course_id, GradeUpload.history_seq.is_not(None))
    )


async def cell_history(
    session: AsyncSession, *, course_id: int, user_id: int, assessment: str
) -> list[GradeHistoryEntry]:
    """Every change of one student's grade for one assessment, newest first.

    Hand changes and reverts are ``grade_changes`` rows; an upload's changes are its
    kept rows, ordered by the upload's position in the same sequence.
    """
    kept = grade_upload_rows
    logged = select(
        GradeChange.id.label("position"),
        GradeChange.old_value,
        GradeChange.old_letter,
        GradeChange.old_comment,
        GradeChange.new_value,
        GradeChange.new_letter,
        GradeChange.new_comment,
        GradeChange.changed_at,
        GradeChange.changed_by_id,
        GradeChange.upload_id,
        GradeChange.reason,
    ).where(
        GradeChange.course_id == course_id,
        GradeChange.user_id == user_id,
        GradeChange.assessment == assessment,
    )
    uploaded = (
        _upload_history(course_id)
        .with_only_columns(
            GradeUpload.history_seq,
            kept.c.old_value,
            kept.c.old_letter,
            kept.c.old_comment,
            kept.c.value,
            kept.c.letter,
            func.coalesce(kept.c.comment, kept.c.old_comment, ""),
            GradeUpload.finished_at,
            GradeUpload.uploaded_by_id,
            GradeUpload.id,
            literal("upload", String()),
        )
        .where(kept.c.user_id == user_id, kept.c.assessment == assessment)
    )
    history = union_all(logged, uploaded).subquery()
    changer = User.__table__.alias("changer")
    rows = await session.execute(
        select(
            history.c.position,
            history.c.old_value,
            history.c.old_letter,
            history.c.old_comment,
            history.c.new_value,
            history.c.new_letter,
            history.c.new_comment,
            history.c.changed_at,
            history.c.changed_by_id,
            changer.c.email,
            changer.c.name,
            history.c.upload_id,
            history.c.reason,
        )
        .outerjoin(changer, changer.c.id == history.c.changed_by_id)
        .order_by(history.c.position.desc())
    )
    return [GradeHistoryEntry(*cast(tuple[Any, ...], row)) for row in rows]
