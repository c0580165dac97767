"""A course's gradebook as CSV, produced batch by batch for a streamed download.

Columns: ``student`` (email), ``name``, ``student_number``, one per assignment (its
slug; the best points), one per imported assessment (the grade's value), ``total``.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some a
tab or carriage return) as a formula, so every *text* cell that starts so gets a
leading ``'``. Numbers are written by us from floats and are never prefixed: a
negative grade stays a number the spreadsheet can add up.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.grades.gradebook import GradebookColumns, GradebookRow, stream_gradebook_batches

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str | None) -> str:
    """``text`` as a spreadsheet shows it, never as a formula it runs."""
    if text is None:
        return ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def format_number(value: float | None) -> str:
    """Up to four decimals, no trailing zeros: ``85``, ``7.5``, ``-2``; empty for no value."""
    if value is None:
        return ""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def header_row(columns: GradebookColumns) -> list[str]:
    return [
        "student",
        "name",
        "student_number",
        *(safe_text(a.slug) for a in columns.assignments),
        *(safe_text(name) for name in columns.assessments),
        "total",
    ]


def csv_row(columns: GradebookColumns, row: GradebookRow) -> list[str]:
    grades = [row.grades.get(name) for name in columns.assessments]
    return [
        safe_text(row.email),
        safe_text(row.name),
        safe_text(row.student_number),
        *(format_number(row.best.get(a.assignment_id)) for a in columns.assignments),
        *(format_number(grade.value if grade else None) for grade in grades),
        format_number(row.total),
    ]


async def gradebook_csv(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    course_id: int,
    columns: GradebookColumns,
) -> AsyncIterator[str]:
    """The CSV text, one chunk per batch of students; only one batch is in memory at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header_row(columns))
    yield buffer.getvalue()
    async for batch in stream_gradebook_batches(session_factory, course_id=course_id):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(csv_row(columns, row) for row in batch)
        yield buffer.getvalue()
