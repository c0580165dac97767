"""What one row of a grade file means: student, assessment, grade (number or letter), comment.

Pure functions over the cells ``files.open_table`` yields; the checks that need the
database (is the student enrolled, is the row a duplicate) happen on the staged rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gradeflow.grades.files import Columns
from gradeflow.grades.models import DEFAULT_ASSESSMENT, MAX_ASSESSMENT_CHARS, MAX_COMMENT_CHARS

GRADE_COLUMNS = ("student", "grade", "assessment", "comment")
REQUIRED_COLUMNS = ("student", "grade")
MAX_STUDENT_CHARS = 320
# Scales differ between courses (0-10, 0-20, 0-100, points), so there is no upper
# limit beyond catching an obvious slip such as a student number in the grade column.
MAX_GRADE = 1_000_000.0


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass(frozen=True)
class GradeRow:
    row: int
    student: str  # an email (lowercased) or a student number, as the file gives it
    assessment: str
    value: float | None  # None when the grade cell was bad (the row has an error)
    letter: str | None
    comment: str | None  # None when the file has no comment column: comments are kept


def student_key(text: str) -> str:
    """Emails compare without case; student numbers exactly."""
    text = text.strip()
    return text.lower() if "@" in text else text


def missing_columns(columns: Columns, *, header_row: int) -> list[RowError]:
    return [
        RowError(header_row, name, f"The header has no '{name}' column.")
        for name in REQUIRED_COLUMNS
        if name not in columns
    ]


class LetterScale:
    """A course's letters, matched without case, each standing for a number."""

    def __init__(self, letters: dict[str, float]) -> None:
        self._by_upper = {letter.upper(): (letter, value) for letter, value in letters.items()}
        self.names = ", ".join(letters)

    def get(self, text: str) -> tuple[str, float] | None:
        return self._by_upper.get(text.upper())

    @property
    def by_upper(self) -> dict[str, tuple[str, float]]:
        return self._by_upper


def parse_grade(text: str, scale: LetterScale) -> tuple[float, str | None] | str:
    """(value, letter) for a number or a letter of ``scale``; else an error message."""
    if not text:
        return "The grade is empty."
    letter = scale.get(text)
    if letter is not None:
        return letter[1], letter[0]
    # A decimal comma, as spreadsheets in much of Europe write it (with ';' between cells).
    number = text.replace(",", ".", 1) if "," in text and "." not in text else text
    try:
        value = float(number)
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "…"
        return f"{shown!r} is neither a number nor a letter of this course's scale ({scale.names})."
    if not math.isfinite(value):
        return f"{text!r} is not a finite number."
    if value < 0:
        return f"The grade {text} is negative."
    if value > MAX_GRADE:
        return f"The grade {text} is larger than {MAX_GRADE:,.0f}; is it in the right column?"
    return value, None


def read_grade_row(
    number: int, cells: list[str], columns: Columns, scale: LetterScale
) -> tuple[GradeRow | None, list[RowError]]:
    """The row to stage (None when it cannot be keyed by student and assessment) and its errors."""
    errors: list[RowError] = []
    student = columns.cell(cells, "student") or ""
    assessment = columns.cell(cells, "assessment")
    comment = columns.cell(cells, "comment")
    keyed = True
    if not student:
        errors.append(RowError(number, "student", "The student is empty."))
        keyed = False
    elif len(student) > MAX_STUDENT_CHARS:
        errors.append(RowError(number, "student", "The student is not an email or number."))
        keyed = False
    if assessment is None:
        assessment = DEFAULT_ASSESSMENT
    elif not assessment:
        errors.append(RowError(number, "assessment", "The assessment is empty."))
        keyed = False
    elif len(assessment) > MAX_ASSESSMENT_CHARS:
        errors.append(
            RowError(
                number,
                "assessment",
                f"The assessment name has {len(assessment)} characters; "
                f"at most {MAX_ASSESSMENT_CHARS} are allowed.",
            )
        )
        keyed = False
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        errors.append(
            RowError(
                number,
                "comment",
                f"The comment has {len(comment)} characters; at most {MAX_COMMENT_CHARS} "
                "are allowed.",
            )
        )
        comment = None
    grade = parse_grade(columns.cell(cells, "grade") or "", scale)
    value: float | None = None
    letter: str | None = None
    if isinstance(grade, str):
        errors.append(RowError(number, "grade", grade))
    else:
        value, letter = grade
    if not keyed:
        return None, errors
    return GradeRow(number, student_key(student), assessment, value, letter, comment), errors


# (student key, assessment, value, letter, comment) of a row without errors.
ReadRow = tuple[str, str, float, str | None, str | None]


class RowReader:
    """``read_grade_row`` for one file's columns and scale, fast for the rows that are fine.

    A million-row file spends most of its staging time here, so a well-formed row costs
    a few index and dict lookups and no objects; any other row returns None from
    ``read_fine`` and goes through ``read_grade_row``, which words every error.
    """

    def __init__(self, columns: Columns, scale: LetterScale) -> None:
        self.columns = columns
        self.scale = scale
        positions = columns.positions
        self._student = positions["student"]
        self._grade = positions["grade"]
        self._assessment = positions.get("assessment")
        self._comment = positions.get("comment")
        self._width = max(positions.values()) + 1
        self._letters = scale.by_upper

    def read_fine(self, cells: list[str]) -> ReadRow | None:
        """The row if it has no error (it may still name a student not enrolled), else None."""
        if len(cells) < self._width:
            return None
        student = cells[self._student].strip()
        if not student or len(student) > MAX_STUDENT_CHARS:
            return None
        if self._assessment is None:
            assessment = DEFAULT_ASSESSMENT
        else:
            assessment = cells[self._assessment].strip()
            if not assessment or len(assessment) > MAX_ASSESSMENT_CHARS:
                return None
        comment = None
        if self._comment is not None:
            comment = cells[self._comment].strip()
            if len(comment) > MAX_COMMENT_CHARS:
                return None
        text = cells[self._grade].strip()
        letter = self._letters.get(text.upper())
        key = student.lower() if "@" in student else student
        if letter is not None:
            return key, assessment, letter[1], letter[0], comment
        if "," in text:  # a decimal comma: parse_grade's rules decide
            return None
        try:
            value = float(text)
        except ValueError:
            return None
        # NaN fails both comparisons, infinities the second.
        if not 0 <= value <= MAX_GRADE:
            return None
        return key, assessment, value, None, comment
