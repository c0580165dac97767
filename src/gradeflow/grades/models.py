"""Grades of enrolled students per course and assessment, and every change to them.

A grade is a number; a letter from the course's scale is kept beside the number it
stands for. Imported grade files, hand edits and reverts all write a ``GradeChange``
row in the same transaction as the grade, so the history is complete.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from gradeflow.db import Base, UTCDateTime, utcnow

DEFAULT_ASSESSMENT = "final"
MAX_ASSESSMENT_CHARS = 100
MAX_COMMENT_CHARS = 2000
MAX_LETTER_CHARS = 8


class Grade(Base):
    __tablename__ = "grades"
    __table_args__ = (UniqueConstraint("course_id", "user_id", "assessment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # References to the course and the student, checked (and cascaded on delete) by
    # triggers once per statement rather than by foreign keys once per row: a
    # million-row import paid ~4 s per key (migration 0009).
    course_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    assessment: Mapped[str] = mapped_column(String(MAX_ASSESSMENT_CHARS))
    value: Mapped[float] = mapped_column(Float)
    # The letter the grade was given as, when it was given as one.
    letter: Mapped[str | None] = mapped_column(String(MAX_LETTER_CHARS))
    comment: Mapped[str] = mapped_column(Text, default="")
    # Who wrote the grade last: an audit column, a plain id (no foreign key, so no
    # per-row check on a bulk import; the writer names an existing user).
    updated_by_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Where the cell's last change stands in the history sequence (``apply.next_history_seq``):
    # the stale check and a revert compare it instead of joining the whole history.
    change_seq: Mapped[int | None] = mapped_column(BigInteger)


class GradeChange(Base):
    """One change of one grade other than an upload's: who, when, old → new.

    An append-only audit log: its ids are plain integers, not foreign keys, so a bulk
    write does not pay a per-row check for each (``grades.apply`` validates them
    set-based before it writes), and the log outlives what it names. An applied
    upload's changes are its rows in ``grade_upload_rows`` instead (migration 0011);
    a cell's history is both. Ids come from the history sequence that uploads take
    their position from too (SQLite: AUTOINCREMENT, so ``sqlite_sequence`` holds it).
    """

    __tablename__ = "grade_changes"
    __table_args__ = (
        Index("ix_grade_changes_cell", "course_id", "user_id", "assessment", "id"),
        Index("ix_grade_changes_upload_id", "upload_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer)
    assessment: Mapped[str] = mapped_column(String(MAX_ASSESSMENT_CHARS))
    # NULL old values: the grade did not exist; NULL new values: it was removed.
    old_value: Mapped[float | None] = mapped_column(Float)
    old_letter: Mapped[str | None] = mapped_column(String(MAX_LETTER_CHARS))
    old_comment: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[float | None] = mapped_column(Float)
    new_letter: Mapped[str | None] = mapped_column(String(MAX_LETTER_CHARS))
    new_comment: Mapped[str | None] = mapped_column(Text)
    changed_by_id: Mapped[int | None] = mapped_column(Integer)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The grade upload that made the change (a plain id: uploads live in their own
    # table, and history outlives them).
    upload_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(20), default="upload")


class UploadStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    applied = "applied"
    validated = "validated"  # a dry run without errors
    rejected = "rejected"  # row errors, or stale: nothing applied
    failed = "failed"  # the file itself is unreadable

    @property
    def is_final(self) -> bool:
        return self not in (UploadStatus.queued, UploadStatus.running)


class RevertStatus(enum.StrEnum):
    """Where a requested revert of an applied upload is (the upload stays ``applied``)."""

    queued = "queued"
    running = "running"
    reverted = "reverted"  # every cell put back, atomically
    refused = "refused"  # cells changed since and no force: nothing changed
    failed = "failed"  # failed on our side every attempt: nothing changed

    @property
    def is_final(self) -> bool:
        return self not in (RevertStatus.queued, RevertStatus.running)


class GradeUpload(Base):
    """One uploaded grade file and its import: state, progress, errors, changes."""

    __tablename__ = "grade_uploads"
    __table_args__ = (
        Index("ix_grade_uploads_course_id_sha256", "course_id", "sha256"),
        Index("ix_grade_uploads_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    # Where the file is kept (``grades.blobs``); NULL once it is no longer needed.
    blob_key: Mapped[str | None] = mapped_column(String(200))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    force: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[UploadStatus] = mapped_column(
        Enum(UploadStatus, native_enum=False, length=16, validate_strings=True),
        default=UploadStatus.queued,
    )
    phase: Mapped[str] = mapped_column(String(20), default="queued")
    rows_total: Mapped[int | None] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    # The first errors and changes (``grades.imports.KEPT``), and how many there were.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    errors_total: Mapped[int] = mapped_column(Integer, default=0)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    changes_total: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    # An earlier upload of the same content to the same course.
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("grade_uploads.id", ondelete="SET NULL")
    )
    # The newest grade_changes id over the cells the file touches, as this upload
    # saw them (a dry run) or left them (an apply): the stale check compares it.
    state_token: Mapped[int | None] = mapped_column(BigInteger)
    # Set when applying must find the cells as ``state_token`` of this upload, or of
    # the earlier upload it repeats, says (NULL: no check).
    expected_token: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    validated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reverted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reverted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # A revert of the whole upload, run as a job (``RevertStatus``); NULL: never asked.
    # While it runs it holds the lease columns above, free once the import ended.
    revert_status: Mapped[str | None] = mapped_column(String(16))
    revert_force: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    revert_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Where this upload's changes stand in the history sequence; set when it applied
    # something (its rows in ``grade_upload_rows`` are then its history).
    history_seq: Mapped[int | None] = mapped_column(BigInteger)


# Rows of a file being imported, staged so that duplicates are found and the apply
# is done by set-based statements — and, once the upload is applied, its history:
# the rows that changed a cell stay, with the values they replaced (migration 0011),
# so an upload's history is not written twice. Rows of an import that did not apply
# are scratch: restaged from the file when an import is taken over, deleted when it
# ends. No foreign keys, so bulk loading checks nothing per row; no primary key
# either, only the index that history reads need (duplicates are found by the checks).
grade_upload_rows = Table(
    "grade_upload_rows",
    Base.metadata,
    Column("upload_id", Integer, nullable=False),
    Column("file_row", Integer, nullable=False),
    Column("user_id", Integer, nullable=False),
    Column("assessment", String(MAX_ASSESSMENT_CHARS), nullable=False),
    Column("value", Float, nullable=True),
    Column("letter", String(MAX_LETTER_CHARS), nullable=True),
    Column("comment", Text, nullable=True),
    # What the row replaced, captured by the apply; NULL old value: a new grade.
    Column("old_value", Float, nullable=True),
    Column("old_letter", String(MAX_LETTER_CHARS), nullable=True),
    Column("old_comment", Text, nullable=True),
    Index("ix_grade_upload_rows_student", "upload_id", "user_id"),
)
