"""Hypothesis against the grade-file parser: whatever the bytes, reading them as a table
either works or raises ``FileUnreadable``; every row it yields has a number past the
header, and each problem in a row names that row and a column of the file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradeflow.courses.models import DEFAULT_LETTER_SCALE
from gradeflow.grades.files import FileUnreadable, Table, find_columns, open_table
from gradeflow.grades.rows import GRADE_COLUMNS, LetterScale, missing_columns, read_grade_row
from tests.factories import MAX_GRADE_FILE, xlsx_bytes

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SCALE = LetterScale(DEFAULT_LETTER_SCALE)


def check_table(table: Table) -> None:
    assert table.header_row >= 1
    columns = find_columns(table.header, GRADE_COLUMNS)
    missing = missing_columns(columns, header_row=table.header_row)
    assert {error.row for error in missing} <= {table.header_row}
    if missing:
        # The import stops here, as the worker does: no row is read.
        return
    previous = table.header_row
    for number, cells in table.rows:
        assert number > previous
        previous = number
        _, errors = read_grade_row(number, cells, columns, SCALE)
        for error in errors:
            assert error.row == number
            assert error.column in columns, error
            assert error.message


def read_grades(content: bytes) -> None:
    """Read ``content`` as an upload is read, checking what the reader says about it."""
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "grades.csv"
        path.write_bytes(content)
        message = "readable"
        try:
            with open_table(path, max_bytes=MAX_GRADE_FILE) as table:
                check_table(table)
        except FileUnreadable as exc:
            message = exc.message
        assert message.strip()
        assert path.read_bytes() == content


@FUZZ
@given(content=st.binary(max_size=3000))
def test_arbitrary_bytes_are_a_table_or_unreadable(content: bytes) -> None:
    read_grades(content)


@FUZZ
@given(content=st.binary(max_size=3000))
def test_arbitrary_bytes_after_a_zip_signature_are_unreadable(content: bytes) -> None:
    read_grades(b"PK\x03\x04" + content)


CELL = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["ada@example.org", "N0001", "87,5", "B+", "nan", "inf", "-1", "1e9", ""]),
    st.floats(allow_nan=True).map(str),
)
HEADER = st.lists(
    st.sampled_from([*GRADE_COLUMNS, "Student ", "GRADE", "name", "", "\ufeffstudent"]),
    max_size=6,
)


@FUZZ
@given(
    header=HEADER,
    rows=st.lists(st.lists(CELL, max_size=6), max_size=8),
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_well_formed_looking_csv_is_a_table_or_unreadable(
    header: list[str], rows: list[list[str]], delimiter: str, encoding: str, newline: str
) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline).writerows([header, *rows])
    try:
        content = buffer.getvalue().encode(encoding)
    except UnicodeEncodeError:
        content = buffer.getvalue().encode("utf-8")
    read_grades(content)


XLSX_CELL = st.one_of(
    st.none(),
    st.text(max_size=30).filter(lambda text: not any(ord(c) < 32 for c in text)),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1)),
)


@pytest.mark.filterwarnings("ignore::UserWarning:openpyxl")
@settings(FUZZ, max_examples=40)
@given(
    header=HEADER,
    rows=st.lists(st.lists(XLSX_CELL, max_size=5), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
    flip=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_workbooks_whole_cut_short_or_damaged_are_tables_or_unreadable(
    header: list[str], rows: list[list[object]], cut: int | None, flip: int | None
) -> None:
    content = bytearray(xlsx_bytes([list(header), *rows]))
    if flip is not None:
        content[flip % len(content)] ^= 0xFF
    if cut is not None:
        del content[cut % len(content) :]
    read_grades(bytes(content))


WORKBOOK = xlsx_bytes(
    [["student", "grade", "comment"], ["ada@example.org", 8.5, "fine"], ["N1", "B+"]]
)


# openpyxl warns about a damaged part before failing on it; the failure is what counts.
@pytest.mark.filterwarnings("ignore::UserWarning:openpyxl")
@settings(FUZZ, max_examples=100)
@given(
    member=st.sampled_from(zipfile.ZipFile(io.BytesIO(WORKBOOK)).namelist()),
    start=st.integers(0, 5000),
    length=st.integers(0, 200),
    insert=st.binary(max_size=40)
    | st.sampled_from([b"<", b">", b'"', b"&#0;", b'r="A0"', b"1e999"]),
)
def test_workbooks_with_a_damaged_part_are_tables_or_unreadable(
    member: str, start: int, length: int, insert: bytes
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(WORKBOOK)) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == member:
                at = start % (len(data) + 1)
                data = data[:at] + insert + data[at + length :]
            target.writestr(name, data)
    read_grades(buffer.getvalue())
