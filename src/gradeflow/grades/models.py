"""Grades of enrolled students per course and assessment, and every change to them.

A grade is a number; a letter from the course's scale is kept beside the number it
stands for. Imported grade files, hand edits and reverts all write a ``GradeChange``
row in the same transaction as the grade, so the history is complete.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assessment: Mapped[str] = mapped_column(String(MAX_ASSESSMENT_CHARS))
    value: Mapped[float] = mapped_column(Float)
    # The letter the grade was given as, when it was given as one.
    letter: Mapped[str | None] = mapped_column(String(MAX_LETTER_CHARS))
    comment: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GradeChange(Base):
    """One change of one grade: who, when, from which upload, old → new."""

    __tablename__ = "grade_changes"
    __table_args__ = (
        Index("ix_grade_changes_cell", "course_id", "user_id", "assessment", "id"),
        Index("ix_grade_changes_upload_id", "upload_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    assessment: Mapped[str] = mapped_column(String(MAX_ASSESSMENT_CHARS))
    # NULL old values: the grade did not exist; NULL new values: it was removed.
    old_value: Mapped[float | None] = mapped_column(Float)
    old_letter: Mapped[str | None] = mapped_column(String(MAX_LETTER_CHARS))
    old_comment: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[float | None] = mapped_column(Float)
    new_letter: Mapped[str | None] = mapped_column(String(MAX_LETTER_CHARS))
    new_comment: Mapped[str | None] = mapped_column(Text)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The grade upload that made the change (a plain id: uploads live in their own
    # table, and history outlives them).
    upload_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(20), default="upload")
