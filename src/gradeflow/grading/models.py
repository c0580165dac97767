"""Submissions and their grading state; regrades and the results of regrade previews."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gradeflow.accounts.models import User
from gradeflow.courses.models import Assignment
from gradeflow.db import Base, UTCDateTime, utcnow
from gradeflow.grading.verdicts import SubmissionStatus

PENDING_PREDICATE = "status IN ('queued', 'running') AND regrading = false"
# The interactive queue: what students wait in, and what their positions count.
INTERACTIVE_QUEUE_PREDICATE = "status = 'queued' AND regrading = false"


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
        # The interactive queue in the order graders serve it (``queue_watch``).
        Index(
            "ix_submissions_interactive_queue",
            "queued_at",
            "id",
            sqlite_where=text(INTERACTIVE_QUEUE_PREDICATE),
            postgresql_where=text(INTERACTIVE_QUEUE_PREDICATE),
        ),
        # A deleted newest submission's id is never handed out again (0012): pages
        # that saw it deleted would otherwise ignore the next one.
        {"sqlite_autoincrement": True},
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
    # When the row's current job joined the queue: on submit, regrade, re-run, and when
    # a released run's job is published again at the tail. Within a priority, graders
    # claim in this order (the broker's FIFO), so queue positions count by it, not by id.
    queued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
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


class RegradeKind(enum.StrEnum):
    # Submissions are set back to `queued` and graded again in place.
    direct = "direct"
    # Submissions are graded again into `preview_results`; scores change only on apply.
    preview = "preview"


class RegradeStatus(enum.StrEnum):
    running = "running"
    ready = "ready"  # a preview whose every result is in, waiting to be applied or discarded
    applied = "applied"
    discarded = "discarded"
    failed = "failed"  # a preview whose assignment changed again while it ran
    done = "done"  # a direct regrade with nothing left regrading

    @property
    def is_active(self) -> bool:
        return self in (RegradeStatus.running, RegradeStatus.ready)


ACTIVE_REGRADE_PREDICATE = "status IN ('running', 'ready')"


class Regrade(Base):
    """One regrade of an assignment, direct or a preview; at most one active at a time."""

    __tablename__ = "regrades"
    __table_args__ = (
        # The database arbitrates "one regrade or preview per assignment at a time":
        # two concurrent starts cannot both insert an active row.
        Index(
            "uq_regrades_one_active_per_assignment",
            "assignment_id",
            unique=True,
            sqlite_where=text(ACTIVE_REGRADE_PREDICATE),
            postgresql_where=text(ACTIVE_REGRADE_PREDICATE),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    kind: Mapped[RegradeKind] = mapped_column(
        Enum(RegradeKind, native_enum=False, length=16, validate_strings=True)
    )
    status: Mapped[RegradeStatus] = mapped_column(
        Enum(RegradeStatus, native_enum=False, length=16, validate_strings=True),
        default=RegradeStatus.running,
    )
    # The assignment revision the submissions are graded against; a preview is
    # applied only while the assignment still has it.
    assignment_revision: Mapped[str] = mapped_column(String(64))
    total: Mapped[int] = mapped_column(Integer, default=0)
    # "new" or "higher", once a preview is applied.
    policy: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    assignment: Mapped[Assignment] = relationship()


class PreviewResult(Base):
    """A submission graded again for a preview, beside what it has now.

    Graded under the same claim, lease and attempt rules as a submission. The
    submission's score and test outcomes are copied in when the preview starts, so
    its deltas can still be shown after the preview was applied.
    """

    __tablename__ = "preview_results"
    __table_args__ = (
        UniqueConstraint("preview_id", "submission_id"),
        Index("ix_preview_results_submission_id", "submission_id"),
        Index("ix_preview_results_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    preview_id: Mapped[int] = mapped_column(ForeignKey("regrades.id", ondelete="CASCADE"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    old_score: Mapped[float | None] = mapped_column(Float)
    # test id -> outcome, of the submission's result when the preview started.
    old_tests: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    status: Mapped[SubmissionStatus] = mapped_column(
        Enum(SubmissionStatus, native_enum=False, length=16, validate_strings=True),
        default=SubmissionStatus.queued,
    )
    score: Mapped[float | None] = mapped_column(Float)
    feedback: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    preview: Mapped[Regrade] = relationship()
    submission: Mapped[Submission] = relationship()
