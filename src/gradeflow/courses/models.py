"""Courses, their members (teachers and enrolled students) and their assignments."""

from __future__ import annotations

import base64
import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gradeflow.courses.format import Scoring
from gradeflow.db import Base, UTCDateTime, utcnow

# A common US-style scale on 0-100; a course may set its own.
DEFAULT_LETTER_SCALE: dict[str, float] = {
    "A+": 98.0, "A": 95.0, "A-": 91.0,
    "B+": 88.0, "B": 85.0, "B-": 81.0,
    "C+": 78.0, "C": 75.0, "C-": 71.0,
    "D+": 68.0, "D": 65.0, "D-": 61.0,
    "F": 50.0,
}  # fmt: skip


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Public courses can be practised by anyone, anonymous visitors included;
    # the others only by their members.
    public: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Students who know the code enrol themselves; NULL means joining is closed.
    join_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Letters grade files may use, each with the number it stands for; NULL means
    # ``DEFAULT_LETTER_SCALE``.
    letter_scale: Mapped[dict[str, float] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    @property
    def letters(self) -> dict[str, float]:
        return self.letter_scale or DEFAULT_LETTER_SCALE

    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="course", order_by="(Assignment.order, Assignment.slug)"
    )


class MemberRole(enum.StrEnum):
    teacher = "teacher"
    student = "student"


class CourseMember(Base):
    """A user's place in a course: one of its teachers, or an enrolled student."""

    __tablename__ = "course_members"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[MemberRole] = mapped_column(
        Enum(MemberRole, native_enum=False, length=16, validate_strings=True)
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("course_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    order: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer, default=100)
    scoring: Mapped[Scoring] = mapped_column(
        Enum(Scoring, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=Scoring.all_or_nothing,
    )
    module: Mapped[str] = mapped_column(String(100), default="solution")
    time_limit_s: Mapped[float] = mapped_column(Float, default=10.0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=256)
    handout_md: Mapped[str] = mapped_column(Text)
    starter: Mapped[str] = mapped_column(Text, default="")
    tests: Mapped[str] = mapped_column(Text)
    solution: Mapped[str] = mapped_column(Text)
    # relative path -> base64 content; kept in the row so any worker host can grade.
    support_files: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    test_ids: Mapped[list[str]] = mapped_column(JSON)
    # Hash of everything that decides a grade; identical code is only reused
    # within one revision.
    revision: Mapped[str] = mapped_column(String(64))
    # Students see (and submit to) published assignments only. Imported ones were
    # checked by the CLI; one authored in the browser or the API is published once
    # its reference solution passes (its ``AssignmentDraft``).
    published: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    course: Mapped[Course] = relationship(back_populates="assignments")

    def grading_files(self, code: str) -> dict[str, bytes]:
        """The files a grading run needs, with ``code`` as the student module."""
        files: dict[str, bytes] = {
            path: base64.b64decode(content) for path, content in self.support_files.items()
        }
        files["tests.py"] = self.tests.encode()
        files[f"{self.module}.py"] = code.encode()
        return files


class CheckStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    passed = "passed"
    failed = "failed"
    error = "error"


class AssignmentDraft(Base):
    """A teacher's working copy of an assignment and the check of its reference solution.

    The assignment row is what students see; the working copy replaces it only when
    its solution passes its tests in the sandbox. The check is a job like a grading
    run: claimed with a lease, recorded only by the lease owner of its ``generation``.
    """

    __tablename__ = "assignment_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), unique=True
    )
    # The assignment's columns as JSON values (``courses.service.spec_content``).
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    check_status: Mapped[CheckStatus] = mapped_column(
        Enum(CheckStatus, native_enum=False, length=16, validate_strings=True)
    )
    # RunResult.to_dict() of the reference solution's run.
    check_result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # When the check's job message was confirmed by the queue; NULL: the sweeper sends it.
    job_published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Bumped whenever the checked files change, so a run of older files records nothing.
    generation: Mapped[int] = mapped_column(Integer, default=0)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    assignment: Mapped[Assignment] = relationship()
