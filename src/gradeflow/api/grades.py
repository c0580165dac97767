"""JSON routes for reading grades: a student's own, a course's gradebook, its CSV export
and one cell's history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.identity import Caller
from gradeflow.accounts.models import User
from gradeflow.api import cached
from gradeflow.api.cached import cached_answer
from gradeflow.api.schemas import COMMON_ERRORS, DateTimeText, errors
from gradeflow.deps import AppRuntime, CurrentCaller, DbSession, TaughtCourse
from gradeflow.errors import Forbidden
from gradeflow.grades import gradebook
from gradeflow.grades.export import gradebook_csv
from gradeflow.grades.models import MAX_ASSESSMENT_CHARS
from gradeflow.runtime import Runtime

router = APIRouter(prefix="/api", tags=["grades"], responses=COMMON_ERRORS)
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "The gradebook as CSV"}
}


class AssignmentScoreView(BaseModel):
    id: int
    slug: str
    title: str
    points: int = Field(description="What a fully passing submission earns.")
    best: float | None = Field(description="The best score of a graded submission, if any.")


class ImportedGradeView(BaseModel):
    assessment: str
    value: float
    letter: str | None = Field(description="The letter the grade was given as, if it was.")
    comment: str
    updated_at: DateTimeText


class CourseGradesView(BaseModel):
    id: int
    slug: str
    title: str
    archived: bool
    assignments: list[AssignmentScoreView]
    grades: list[ImportedGradeView] = Field(description="Imported grades, by assessment name.")
    points: float = Field(description="Sum of the best scores.")
    max_points: int = Field(description="Sum of the assignments' points.")
    total: float = Field(description="Points plus the values of the imported grades.")


class OwnGrades(BaseModel):
    courses: list[CourseGradesView] = Field(description="The courses the caller is enrolled in.")


class StudentView(BaseModel):
    id: int
    email: str
    name: str | None
    student_number: str | None


class GradeCellView(BaseModel):
    value: float
    letter: str | None
    comment: str


class GradebookRowView(BaseModel):
    student: StudentView
    best: list[float | None] = Field(description="Best score per assignment, in column order.")
    grades: list[GradeCellView | None] = Field(description="Grade per assessment, in column order.")
    total: float


class AssignmentColumnView(BaseModel):
    id: int
    slug: str
    title: str
    points: int


class CourseRef(BaseModel):
    id: int
    slug: str
    title: str


class GradebookView(BaseModel):
    course: CourseRef
    assignments: list[AssignmentColumnView]
    assessments: list[str]
    rows: list[GradebookRowView] = Field(description="Enrolled students, by email.")


class PersonRef(BaseModel):
    id: int
    email: str | None
    name: str | None


class GradeChangeView(BaseModel):
    id: int
    old_value: float | None = Field(description="None: the grade did not exist before.")
    old_letter: str | None
    old_comment: str | None
    new_value: float | None = Field(description="None: the grade was removed.")
    new_letter: str | None
    new_comment: str | None
    changed_at: DateTimeText
    changed_by: PersonRef | None
    upload_id: int | None
    reason: str


class GradeHistory(BaseModel):
    student: StudentView
    assessment: str
    changes: list[GradeChangeView] = Field(description="Newest first.")


def require_account(user: User | Caller) -> None:
    if user.is_anonymous:
        raise Forbidden("Grades need an account: register or sign in.")


def describe_own_grades(courses: list[gradebook.CourseGrades]) -> OwnGrades:
    return OwnGrades(
        courses=[
            CourseGradesView(
                id=course.course_id,
                slug=course.slug,
                title=course.title,
                archived=course.archived,
                assignments=[
                    AssignmentScoreView(
                        id=a.assignment_id, slug=a.slug, title=a.title, points=a.points, best=a.best
                    )
                    for a in course.assignments
                ],
                grades=[
                    ImportedGradeView(
                        assessment=g.assessment,
                        value=g.value,
                        letter=g.letter,
                        comment=g.comment,
                        updated_at=g.updated_at.isoformat(),
                    )
                    for g in course.grades
                ],
                points=course.points,
                max_points=course.max_points,
                total=course.total,
            )
            for course in courses
        ]
    )


def describe_student(user_id: int, email: str, name: str | None, number: str | None) -> StudentView:
    return StudentView(id=user_id, email=email, name=name, student_number=number)


@router.get(
    "/me/grades",
    summary="Student: own grades per enrolled course (imported and auto-graded)",
    response_model=OwnGrades,
    responses=errors(401, 403),
)
async def own_grades(request: Request, caller: CurrentCaller) -> Response:
    require_account(caller)

    async def build(session: AsyncSession, _runtime: Runtime) -> OwnGrades:
        return describe_own_grades(await gradebook.own_grades(session, user_id=caller.id))

    return await cached_answer(request, cached.OWN_GRADES, caller.id, build)


@router.get(
    "/courses/{course_id:int}/grades",
    summary="Teacher: the course's gradebook (students × assignments and assessments)",
    responses=errors(401, 403, 404),
)
async def course_gradebook(course: TaughtCourse, session: DbSession) -> GradebookView:
    columns = await gradebook.gradebook_columns(session, course_id=course.id)
    rows = await gradebook.all_gradebook_rows(session, course_id=course.id)
    return GradebookView(
        course=CourseRef(id=course.id, slug=course.slug, title=course.title),
        assignments=[
            AssignmentColumnView(id=a.assignment_id, slug=a.slug, title=a.title, points=a.points)
            for a in columns.assignments
        ],
        assessments=columns.assessments,
        rows=[
            GradebookRowView(
                student=describe_student(row.user_id, row.email, row.name, row.student_number),
                best=[row.best.get(a.assignment_id) for a in columns.assignments],
                grades=[
                    GradeCellView(value=cell.value, letter=cell.letter, comment=cell.comment)
                    if (cell := row.grades.get(name))
                    else None
                    for name in columns.assessments
                ],
                total=row.total,
            )
            for row in rows
        ],
    )


@router.get(
    "/courses/{course_id:int}/grades.csv",
    summary="Teacher: the gradebook as CSV (first column `student` = email), streamed",
    response_class=StreamingResponse,
    responses=CSV_RESPONSE | errors(401, 403, 404),
)
async def course_gradebook_csv(
    course: TaughtCourse,
    runtime: AppRuntime,
    session: DbSession,
) -> StreamingResponse:
    columns = await gradebook.gradebook_columns(session, course_id=course.id)
    # The rows are read after this route's unit of work has ended, in sessions of
    # their own, while the response streams.
    body = gradebook_csv(runtime.session_factory, course_id=course.id, columns=columns)
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{course.slug}-grades.csv"'},
    )


@router.get(
    "/courses/{course_id:int}/grades/history",
    summary="Teacher: every change of one student's grade for one assessment, newest first",
    responses=errors(401, 403, 404),
)
async def grade_history(
    course: TaughtCourse,
    session: DbSession,
    student: Annotated[
        str, Query(min_length=1, max_length=320, description="The student's user id or email.")
    ],
    assessment: Annotated[str, Query(min_length=1, max_length=MAX_ASSESSMENT_CHARS)],
) -> GradeHistory:
    found = await gradebook.find_course_student(session, course_id=course.id, student=student)
    changes = await gradebook.cell_history(
        session, course_id=course.id, user_id=found.id, assessment=assessment
    )
    return GradeHistory(
        student=describe_student(found.id, found.email or "", found.name, found.student_number),
        assessment=assessment,
        changes=[
            GradeChangeView(
                id=c.change_id,
                old_value=c.old_value,
                old_letter=c.old_letter,
                old_comment=c.old_comment,
                new_value=c.new_value,
                new_letter=c.new_letter,
                new_comment=c.new_comment,
                changed_at=c.changed_at.isoformat(),
                changed_by=PersonRef(
                    id=c.changed_by_id, email=c.changed_by_email, name=c.changed_by_name
                )
                if c.changed_by_id is not None
                else None,
                upload_id=c.upload_id,
                reason=c.reason,
            )
            for c in changes
        ],
    )
