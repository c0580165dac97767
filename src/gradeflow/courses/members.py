"""Courses as teachers run them: creating and editing, teachers, enrolment, join codes.

Access follows one rule, used by every route: a course a user may not see is "not
found" (404), so its existence does not leak; one they may see but not change is
"forbidden" (403). Admins may do whatever a course's teachers may.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.identity import Caller
from gradeflow.accounts.models import Role, User
from gradeflow.accounts.service import normalise_email
from gradeflow.courses.models import Course, CourseMember, MemberRole
from gradeflow.db import dialect_insert, utcnow
from gradeflow.errors import Conflict, Forbidden, Invalid, NotFound

# Reads that depend on who is enrolled where (practice lists, own grades); any write
# to enrolments purges it (gradeflow.purges).
MEMBERSHIPS_NAMESPACE = "memberships"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
# No 0/O or 1/I/L: the code is read aloud and typed from a projector.
_JOIN_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 8


@dataclass(frozen=True)
class CourseAccess:
    course: Course
    role: MemberRole | None  # the caller's membership, None for a visitor

    @property
    def teaches(self) -> bool:
        return self.role is MemberRole.teacher


def _check_title(title: str) -> str:
    title = title.strip()
    if not 1 <= len(title) <= 200:
        raise Invalid("A title has 1 to 200 characters.", details={"field": "title"})
    return title


async def create_course(
    session: AsyncSession,
    *,
    teacher: User,
    slug: str,
    title: str,
    description: str = "",
    public: bool = False,
) -> Course:
    """A new course taught by ``teacher``."""
    if not _SLUG.match(slug):
        raise Invalid(
            "A slug is 1 to 100 lowercase letters, digits and '-', starting with a letter or digit.",
            details={"field": "slug"},
        )
    if await session.scalar(select(Course.id).where(Course.slug == slug)) is not None:
        raise Conflict(f"A course with the slug {slug!r} exists already.")
    course = Course(
        slug=slug, title=_check_title(title), description=description.strip(), public=public
    )
    session.add(course)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A course with the slug {slug!r} exists already.") from exc
    session.add(CourseMember(course_id=course.id, user_id=teacher.id, role=MemberRole.teacher))
    await session.flush()
    return course


async def course_access(
    session: AsyncSession, *, course_id: int, user: User | Caller | None
) -> CourseAccess:
    """The course as ``user`` may see it; NotFound when they may not see it at all."""
    course = await session.get(Course, course_id)
    if course is None:
        raise NotFound("No such course.")
    role = None
    if user is not None:
        role = await session.scalar(
            select(CourseMember.role).where(
                CourseMember.course_id == course_id, CourseMember.user_id == user.id
            )
        )
    if role is MemberRole.teacher or (user is not None and user.role is Role.admin):
        return CourseAccess(course, MemberRole.teacher)
    if role is None and not (course.public and not course.archived):
        raise NotFound("No such course.")
    return CourseAccess(course, role)


async def submittable_course(
    session: AsyncSession, *, course_id: int, user: User | Caller
) -> Course:
    """The course if ``user`` may submit work to it: 404 unseen, 409 archived."""
    access = await course_access(session, course_id=course_id, user=user)
    if access.course.archived:
        raise Conflict("This course is archived; it takes no more submissions.")
    return access.course


async def taught_course(session: AsyncSession, *, course_id: int, user: User) -> Course:
    """The course if ``user`` teaches it (or is an admin): 404 unseen, 403 seen."""
    access = await course_access(session, course_id=course_id, user=user)
    if not access.teaches:
        raise Forbidden("Only the course's teachers may do that.")
    return access.course


async def visible_courses(session: AsyncSession, *, user: User | None) -> list[CourseAccess]:
    """The courses ``user`` teaches or is enrolled in, then the public ones."""
    roles: dict[int, MemberRole] = {}
    if user is not None:
        rows = await session.execute(
            select(CourseMember.course_id, CourseMember.role).where(CourseMember.user_id == user.id)
        )
        roles = {course_id: role for course_id, role in rows}
    query = select(Course).order_by(Course.title, Course.id)
    if user is None or user.role is not Role.admin:
        query = query.where(
            or_(Course.id.in_(roles), Course.public.is_(True) & Course.archived_at.is_(None))
        )
    courses = await session.scalars(query)
    is_admin = user is not None and user.role is Role.admin
    return [
        CourseAccess(course, MemberRole.teacher if is_admin else roles.get(course.id))
        for course in courses
    ]


@dataclass(frozen=True)
class PracticeScope:
    """The courses whose assignments a user practises: the live public ones, and
    those they teach or are enrolled in (every live one for an admin). Archived
    courses leave practice lists; their members can still open their work."""

    member_course_ids: frozenset[int]
    admin: bool = False

    def includes(self, *, course_id: int, public: bool, archived: bool) -> bool:
        return not archived and (public or self.admin or course_id in self.member_course_ids)

    def condition(self) -> ColumnElement[bool]:
        """The same rule as a SQL condition on ``Course``."""
        live = Course.archived_at.is_(None)
        if self.admin:
            return live
        return live & or_(Course.public.is_(True), Course.id.in_(self.member_course_ids))


async def practice_scope(session: AsyncSession, *, user: User | Caller | None) -> PracticeScope:
    if user is None or user.is_anonymous:
        # An anonymous identity cannot be a member: enrolment and joining need an account.
        return PracticeScope(frozenset())
    ids = await session.scalars(
        select(CourseMember.course_id).where(CourseMember.user_id == user.id)
    )
    return PracticeScope(frozenset(ids), admin=user.role is Role.admin)


async def update_course(
    session: AsyncSession,
    course: Course,
    *,
    title: str | None = None,
    description: str | None = None,
    public: bool | None = None,
    archived: bool | None = None,
) -> Course:
    if title is not None:
        course.title = _check_title(title)
    if description is not None:
        course.description = description.strip()
    if public is not None:
        course.public = public
    if archived is not None and archived != course.archived:
        course.archived_at = utcnow() if archived else None
    await session.flush()
    return course


async def _user_by_email(session: AsyncSession, email: str) -> User:
    user = await session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound(f"No account has the email {email.strip()!r}; create it first.")
    return user


async def _membership(session: AsyncSession, course_id: int, user_id: int) -> CourseMember | None:
    return await session.get(CourseMember, (course_id, user_id))


async def add_teacher(session: AsyncSession, course: Course, *, email: str) -> User:
    """Make a teacher's account a co-teacher of ``course``."""
    user = await _user_by_email(session, email)
    if user.role not in (Role.teacher, Role.admin):
        raise Invalid(f"{user.email} is a student's account; only teachers can co-teach.")
    member = await _membership(session, course.id, user.id)
    if member is None:
        # Two requests may add the same teacher at once: the second one's row is there.
        await session.execute(
            dialect_insert(session)(CourseMember)
            .values(course_id=course.id, user_id=user.id, role=MemberRole.teacher)
            .on_conflict_do_update(
                index_elements=[CourseMember.course_id, CourseMember.user_id],
                set_={"role": MemberRole.teacher},
            )
        )
    else:
        member.role = MemberRole.teacher
    await session.flush()
    return user


async def enrol_student(session: AsyncSession, course: Course, *, email: str) -> tuple[User, bool]:
    """Enrol a student's account; the user and whether they were not enrolled before."""
    user = await _user_by_email(session, email)
    return user, await _enrol(session, course, user)


async def _enrol(session: AsyncSession, course: Course, user: User) -> bool:
    if user.role is not Role.student:
        article = "an" if user.role.value[0] in "aeiou" else "a"  # an admin, a teacher
        raise Invalid(
            f"{user.email} is {article} {user.role.value}'s account; only students enrol."
        )
    # Inserted unless there: two requests may enrol the same student at once (a double
    # click on "Join"), and the second one finds the first one's row, not an error.
    enrolled = await session.scalar(
        dialect_insert(session)(CourseMember)
        .values(course_id=course.id, user_id=user.id, role=MemberRole.student)
        .on_conflict_do_nothing()
        .returning(CourseMember.user_id)
    )
    if enrolled is not None:
        return True
    member = await _membership(session, course.id, user.id)
    if member is not None and member.role is MemberRole.teacher:
        raise Conflict(f"{user.email} teaches this course.")
    return False


async def remove_student(session: AsyncSession, course: Course, *, user_id: int) -> None:
    member = await _membership(session, course.id, user_id)
    if member is None or member.role is not MemberRole.student:
        raise NotFound("That student is not enrolled in this course.")
    await session.delete(member)
    await session.flush()


async def list_members(session: AsyncSession, course: Course, *, role: MemberRole) -> list[User]:
    rows = await session.scalars(
        select(User)
        .join(CourseMember, CourseMember.user_id == User.id)
        .where(CourseMember.course_id == course.id, CourseMember.role == role)
        .order_by(User.email)
    )
    return list(rows)


async def new_join_code(session: AsyncSession, course: Course) -> str:
    """A fresh code (the old one stops working)."""
    course.join_code = "".join(secrets.choice(_JOIN_ALPHABET) for _ in range(JOIN_CODE_LENGTH))
    await session.flush()
    return course.join_code


async def close_joining(session: AsyncSession, course: Course) -> None:
    course.join_code = None
    await session.flush()


async def join_with_code(session: AsyncSession, *, user: User, code: str) -> Course:
    """Enrol ``user`` in the course whose join code this is."""
    if user.is_anonymous:
        raise Forbidden("Register or sign in first; then join the course with its code.")
    normalised = code.strip().upper().replace("-", "").replace(" ", "")
    course = None
    if len(normalised) == JOIN_CODE_LENGTH:
        course = await session.scalar(select(Course).where(Course.join_code == normalised))
    if course is None or course.archived:
        raise NotFound("No course has that join code; check it with your teacher.")
    await _enrol(session, course, user)
    return course
