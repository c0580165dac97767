"""Submissions and their grading state."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gradeflow.accounts.models import User
from gradeflow.courses.models import Assignment
from gradeflow.db import Base, UTCDateTime, utcnow


class SubmissionStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    passed = "passed"
    failed = "failed"
    error = "error"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {SubmissionStatus.passed, SubmissionStatus.failed, SubmissionStatus.error}
)
PENDING_STATUSES = frozenset({SubmissionStatus.queued, SubmissionStatus.running})


PENDING_PREDICATE = "status IN ('queued', 'running') AND regrading = false"


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        # The database, not a read-then-write check, enforces one pending
        # submission per user, so concurrent submits cannot both get in. Rows being
        # regraded are bulk work, not the student's pending submission.
        Index(
            "uq_submissions_one_pending_per_user",
            "user_id",
            unique=True,
            sqlite_where=text(PENDING_PREDICATE),
            postgresql_where=text(PENDING_PREDICATE),
        ),
        Index("ix_submissions_reuse", "assignment_id", "code_hash"),
        Index("ix_submissions_user_assignment", "user_id", "assignment_id"),
        Index("ix_submissions_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(String(64))
    assignment_revision: Mapped[str] = mapped_column(String(64))
    status: Mapped[SubmissionStatus] = mapped_column(
        Enum(SubmissionStatus, native_enum=False, length=16, validate_strings=True),
        default=SubmissionStatus.queued,
    )
    score: Mapped[float | None] = mapped_column(Float)
    # RunResult.to_dict() of the grading run (outcome, message, per-test results, output).
    feedback: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # When the job message was confirmed by the queue; NULL rows are re-published
    # by the sweeper (the broker was down when the submission was accepted).
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Bumped by every regrade; a run records its result only for the generation it
    # claimed, so an old run can never overwrite a newer one.
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    regrading: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Set when the result was copied from an identical earlier submission.
    reused_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
    assignment: Mapped[Assignment] = relationship()
