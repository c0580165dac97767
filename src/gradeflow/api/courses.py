"""JSON routes for courses: create and edit, co-teachers, enrolment and join codes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from gradeflow.accounts.models import User
from gradeflow.api.schemas import COMMON_ERRORS, DateTimeText, errors
from gradeflow.courses import members
from gradeflow.courses.members import CourseAccess
from gradeflow.courses.models import MemberRole
from gradeflow.deps import (
    CurrentTeacher,
    CurrentUser,
    DbSession,
    OptionalUser,
    PathId,
    TaughtCourse,
)

router = APIRouter(prefix="/api/courses", tags=["courses"], responses=COMMON_ERRORS)


class NewCourse(BaseModel):
    slug: str = Field(max_length=100, description="Lowercase letters, digits and '-'.")
    title: str = Field(max_length=200)
    description: str = Field(default="", max_length=20_000)
    public: bool = Field(default=False, description="Anyone may practise it, signed in or not.")


class CourseChanges(BaseModel):
    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    public: bool | None = None
    archived: bool | None = Field(default=None, description="Archived courses leave lists.")


class CourseView(BaseModel):
    id: int
    slug: str
    title: str
    description: str
    public: bool
    archived: bool
    role: MemberRole | None = Field(description="The caller's place in the course, if any.")
    join_code: str | None = Field(description="Shown to the course's teachers only.")
    created_at: DateTimeText


class CourseList(BaseModel):
    items: list[CourseView]


class MemberEmail(BaseModel):
    email: str = Field(max_length=320)


class JoinCode(BaseModel):
    code: str = Field(max_length=32)


class MemberView(BaseModel):
    id: int
    email: str | None
    name: str | None
    student_number: str | None


class MemberList(BaseModel):
    items: list[MemberView]


ALREADY_ENROLLED: dict[int | str, dict[str, Any]] = {
    200: {"model": MemberView, "description": "The student was enrolled already"}
}


def describe_course(access: CourseAccess) -> CourseView:
    course = access.course
    return CourseView(
        id=course.id,
        slug=course.slug,
        title=course.title,
        description=course.description,
        public=course.public,
        archived=course.archived,
        role=access.role,
        join_code=course.join_code if access.teaches else None,
        created_at=course.created_at.isoformat(),
    )


def describe_member(user: User) -> MemberView:
    return MemberView(
        id=user.id, email=user.email, name=user.name, student_number=user.student_number
    )


@router.post(
    "", status_code=201, summary="Teacher: create a course", responses=errors(401, 403, 409)
)
async def create_course(body: NewCourse, session: DbSession, teacher: CurrentTeacher) -> CourseView:
    course = await members.create_course(
        session,
        teacher=teacher,
        slug=body.slug,
        title=body.title,
        description=body.description,
        public=body.public,
    )
    return describe_course(CourseAccess(course, MemberRole.teacher))


@router.get("", summary="The courses the caller teaches, takes, or may practise")
async def list_courses(session: DbSession, user: OptionalUser) -> CourseList:
    courses = await members.visible_courses(session, user=user)
    return CourseList(items=[describe_course(access) for access in courses])


@router.post(
    "/join",
    summary="Student: enrol with a course's join code",
    responses=errors(401, 403, 404, 409),
)
async def join_course(body: JoinCode, session: DbSession, user: CurrentUser) -> CourseView:
    course = await members.join_with_code(session, user=user, code=body.code)
    return describe_course(CourseAccess(course, MemberRole.student))


@router.get("/{course_id:int}", summary="One course", responses=errors(404))
async def get_course(course_id: PathId, session: DbSession, user: OptionalUser) -> CourseView:
    return describe_course(await members.course_access(session, course_id=course_id, user=user))


@router.patch(
    "/{course_id:int}",
    summary="Teacher: edit, publish or archive a course",
    responses=errors(401, 403, 404),
)
async def update_course(
    course: TaughtCourse,
    body: CourseChanges,
    session: DbSession,
) -> CourseView:
    await members.update_course(
        session,
        course,
        title=body.title,
        description=body.description,
        public=body.public,
        archived=body.archived,
    )
    return describe_course(CourseAccess(course, MemberRole.teacher))


@router.post(
    "/{course_id:int}/teachers",
    status_code=201,
    summary="Teacher: add a co-teacher by email",
    responses=errors(401, 403, 404),
)
async def add_teacher(
    course: TaughtCourse,
    body: MemberEmail,
    session: DbSession,
) -> MemberView:
    return describe_member(await members.add_teacher(session, course, email=body.email))


@router.get(
    "/{course_id:int}/teachers",
    summary="Teacher: the course's teachers",
    responses=errors(401, 403, 404),
)
async def list_teachers(course: TaughtCourse, session: DbSession) -> MemberList:
    rows = await members.list_members(session, course, role=MemberRole.teacher)
    return MemberList(items=[describe_member(member) for member in rows])


@router.post(
    "/{course_id:int}/students",
    status_code=201,
    summary="Teacher: enrol a student by email (200 if already enrolled)",
    responses=ALREADY_ENROLLED | errors(401, 403, 404, 409),
)
async def enrol_student(
    course: TaughtCourse,
    body: MemberEmail,
    response: Response,
    session: DbSession,
) -> MemberView:
    student, created = await members.enrol_student(session, course, email=body.email)
    if not created:
        response.status_code = 200
    return describe_member(student)


@router.get(
    "/{course_id:int}/students",
    summary="Teacher: the course's roster",
    responses=errors(401, 403, 404),
)
async def list_students(course: TaughtCourse, session: DbSession) -> MemberList:
    rows = await members.list_members(session, course, role=MemberRole.student)
    return MemberList(items=[describe_member(member) for member in rows])


@router.delete(
    "/{course_id:int}/students/{user_id:int}",
    status_code=204,
    summary="Teacher: unenrol a student (their work is kept)",
    responses=errors(401, 403, 404),
)
async def remove_student(course: TaughtCourse, user_id: PathId, session: DbSession) -> Response:
    await members.remove_student(session, course, user_id=user_id)
    return Response(status_code=204)


@router.post(
    "/{course_id:int}/join-code",
    summary="Teacher: a new join code (the old one stops working)",
    responses=errors(401, 403, 404),
)
async def new_join_code(course: TaughtCourse, session: DbSession) -> CourseView:
    await members.new_join_code(session, course)
    return describe_course(CourseAccess(course, MemberRole.teacher))


@router.delete(
    "/{course_id:int}/join-code",
    status_code=204,
    summary="Teacher: close joining by code",
    responses=errors(401, 403, 404),
)
async def close_joining(course: TaughtCourse, session: DbSession) -> Response:
    await members.close_joining(session, course)
    return Response(status_code=204)
