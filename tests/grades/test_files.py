"""Reading grade files: formats told from content, encodings, delimiters, damaged files."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from gradeflow.courses.models import DEFAULT_LETTER_SCALE
from gradeflow.grades.files import MAX_LINE_CHARS, FileUnreadable, Table, find_columns, open_table
from gradeflow.grades.rows import (
    GRADE_COLUMNS,
    LetterScale,
    RowReader,
    parse_grade,
    read_grade_row,
)
from tests.factories import MAX_GRADE_FILE, peak_traced_bytes, xlsx_bomb, xlsx_bytes

CSV = "student,grade,assessment,comment\nada@example.org,87.5,final,Well done\nbob@example.org,B+,quiz 1,\n"


def read_all(path: Path) -> tuple[Table, list[tuple[int, list[str]]]]:
    return read_all_within(path, max_bytes=MAX_GRADE_FILE)


def read_all_within(path: Path, *, max_bytes: int) -> tuple[Table, list[tuple[int, list[str]]]]:
    with open_table(path, max_bytes=max_bytes) as table:
        return table, list(table.rows)


def write(tmp_path: Path, content: bytes, name: str = "grades.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [
        ("utf-8", b""),
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("cp1252", b""),
    ],
)
def test_each_supported_encoding_reads_the_same_rows(
    tmp_path: Path, encoding: str, prefix: bytes
) -> None:
    text = CSV.replace("Well done", "Très bien – “good”")
    table, rows = read_all(write(tmp_path, prefix + text.encode(encoding)))
    assert table.header == ["student", "grade", "assessment", "comment"]
    assert rows == [
        (2, ["ada@example.org", "87.5", "final", "Très bien – “good”"]),
        (3, ["bob@example.org", "B+", "quiz 1", ""]),
    ]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_detected_and_crlf_is_handled(tmp_path: Path, delimiter: str) -> None:
    text = CSV.replace(",", delimiter).replace("\n", "\r\n")
    table, rows = read_all(write(tmp_path, text.encode()))
    assert table.delimiter == delimiter
    assert rows[1] == (3, ["bob@example.org", "B+", "quiz 1", ""])


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("ends_with_newline", [True, False])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_csvs_row_estimate_is_its_rows_less_the_header(
    tmp_path: Path, newline: str, ends_with_newline: bool, encoding: str
) -> None:
    lines = ["student,grade", *[f"s{i}@example.org,{i}" for i in range(320)]]
    text = newline.join(lines) + (newline if ends_with_newline else "")
    table, rows = read_all(write(tmp_path, text.encode(encoding)))
    assert len(rows) == 320
    assert table.estimated_rows == 320


def test_header_names_ignore_case_and_spaces_and_unknown_columns_are_listed(tmp_path: Path) -> None:
    table, _ = read_all(
        write(tmp_path, b" Student ;GRADE; Assess ment ;Extra Col ;Name\nx;1;a;b;Ada\n")
    )
    columns = find_columns(table.header, GRADE_COLUMNS, written=table.written_header)
    assert columns.positions == {"student": 0, "grade": 1, "assessment": 2}
    # Named as the teacher wrote them, not as they are compared.
    assert columns.ignored == ["Extra Col", "Name"]


def test_a_column_named_twice_is_unreadable(tmp_path: Path) -> None:
    table, _ = read_all(write(tmp_path, b"student,grade,grade\nx,1,2\n"))
    with pytest.raises(FileUnreadable, match="two 'grade' columns"):
        find_columns(table.header, GRADE_COLUMNS)


def test_blank_lines_are_skipped_but_rows_keep_their_spreadsheet_numbers(tmp_path: Path) -> None:
    _, rows = read_all(write(tmp_path, b"\nstudent,grade\n\na,1\n,\nb,2\n"))
    assert rows == [(4, ["a", "1"]), (6, ["b", "2"])]


def test_xlsx_is_read_from_its_content_even_when_named_csv(tmp_path: Path) -> None:
    content = xlsx_bytes(
        [["Student", "Grade"], ["ada@example.org", 87.5], [12345, 90], [None, None]]
    )
    table, rows = read_all(write(tmp_path, content, "grades.csv"))
    assert table.kind == "xlsx"
    assert table.header == ["student", "grade"]
    assert rows == [(2, ["ada@example.org", "87.5"]), (3, ["12345", "90"])]


def test_a_truncated_xlsx_fails_with_one_clear_message(tmp_path: Path) -> None:
    content = xlsx_bytes([["student", "grade"], *[[f"s{i}@example.org", i] for i in range(2000)]])
    with pytest.raises(FileUnreadable, match="damaged or incomplete"):
        read_all(write(tmp_path, content[: len(content) // 2], "grades.xlsx"))


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(FileUnreadable, match="not an Excel workbook"):
        read_all(write(tmp_path, buffer.getvalue()))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\xef\xbb\xbf  \r\n\n", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), r"old Excel \(.xls\)"),
        (b"%PDF-1.7\n" + bytes(100), "PDF"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG image"),
        (bytes(range(256)) * 40, "not text"),
        (b"student,grade\n" + b"a,1\n" * 1000 + b"b,\x00\x01\x02\n", "not text"),
        (b"\xff\xfestudent", "utf-16"),
    ],
)
def test_files_that_are_not_tables_fail_clearly(
    tmp_path: Path, content: bytes, message: str
) -> None:
    with pytest.raises(FileUnreadable, match=message):
        read_all(write(tmp_path, content))


def test_a_10_mb_single_line_fails_without_reading_it_whole(tmp_path: Path) -> None:
    path = write(tmp_path, b"student,grade\n" + b"x," * (5 * 1024 * 1024) + b"\n")
    with pytest.raises(FileUnreadable, match=f"longer than {MAX_LINE_CHARS:,} characters"):
        read_all(path)


def test_a_huge_quoted_field_fails_as_invalid_csv(tmp_path: Path) -> None:
    path = write(tmp_path, b'student,grade\n"' + b"a\n" * 100_000 + b'",1\n')
    with pytest.raises(FileUnreadable, match="not valid CSV"):
        read_all(path)


SCALE = LetterScale(DEFAULT_LETTER_SCALE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("87.5", (87.5, None)),
        ("87,5", (87.5, None)),
        ("b+", (88.0, "B+")),
        ("A", (95.0, "A")),
        ("0", (0.0, None)),
    ],
)
def test_grades_are_numbers_or_letters_of_the_scale(
    text: str, expected: tuple[float, str | None]
) -> None:
    assert parse_grade(text, SCALE) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("good", "neither a number nor a letter"),
        ("nan", "not a finite"),
        ("inf", "not a finite"),
        ("-1", "negative"),
        ("1e9", "larger than"),
    ],
)
def test_bad_grades_are_row_errors(text: str, message: str) -> None:
    result = parse_grade(text, SCALE)
    assert isinstance(result, str)
    assert message in result


def test_a_row_collects_every_error_it_has() -> None:
    columns = find_columns(["student", "grade", "assessment", "comment"], GRADE_COLUMNS)
    row, errors = read_grade_row(7, ["Ada@Example.org", "x", "a" * 101, "c" * 2001], columns, SCALE)
    assert row is None
    assert [(e.row, e.column) for e in errors] == [(7, "assessment"), (7, "comment"), (7, "grade")]
    row, errors = read_grade_row(
        8, ["Ada@Example.org", "A"], find_columns(["student", "grade"], GRADE_COLUMNS), SCALE
    )
    assert errors == []
    assert row is not None
    assert (row.student, row.assessment, row.value, row.letter, row.comment) == (
        "ada@example.org",
        "final",
        95.0,
        "A",
        None,
    )


@pytest.mark.parametrize(
    "header",
    [
        ["student", "grade", "assessment", "comment"],
        ["comment", "grade", "student"],
        ["grade", "notes", "student"],
    ],
)
def test_the_fast_row_reader_agrees_with_read_grade_row(header: list[str]) -> None:
    columns = find_columns(header, GRADE_COLUMNS)
    reader = RowReader(columns, SCALE)
    students = ["Ada@Example.org ", "N0042", "", "  ", "x" * 321]
    grades = ["87.5", "b+", " A ", "7,5", "1,5.0", "", "nan", "inf", "-0.0", "-1", "1e6"]
    grades += ["1000001", "1_000", "x"]
    assessments = ["quiz 1", "", "q" * 101]
    comments = ["", " ok ", "c" * 2000, "c" * 2001]
    rows = [
        [{"student": s, "grade": g, "assessment": a, "comment": c}.get(n, "x") for n in header]
        for s in students
        for g in grades
        for a in assessments
        for c in comments
    ]
    rows += [[], ["ada@example.org"]]
    fast = 0
    for cells in rows:
        row, errors = read_grade_row(3, cells, columns, SCALE)
        fine = reader.read_fine(cells)
        if fine is not None:
            fast += 1
            assert errors == []
            assert row is not None
            assert fine == (row.student, row.assessment, row.value, row.letter, row.comment)
        elif row is not None and not errors:
            # The fast path leaves only decimal commas to parse_grade.
            assert "," in cells[columns.positions["grade"]], cells
    assert fast > 0


@pytest.mark.parametrize("shared", [False, True])
def test_an_xlsx_part_that_unpacks_far_beyond_the_upload_limit_is_refused_unread(
    tmp_path: Path, shared: bool
) -> None:
    path = write(tmp_path, xlsx_bomb(16 * 1024 * 1024, shared=shared), "bomb.xlsx")
    assert path.stat().st_size < 64 * 1024

    def read() -> None:
        with pytest.raises(FileUnreadable, match=r"unpacks to 16,777,\d+ bytes, more than"):
            read_all_within(path, max_bytes=256 * 1024)

    assert peak_traced_bytes(read) < 2 * 1024 * 1024


@pytest.mark.parametrize("shared", [False, True])
def test_an_xlsx_cell_longer_than_excel_allows_is_refused_before_it_is_held(
    tmp_path: Path, shared: bool
) -> None:
    # Within the parts' bound of a 200 MiB upload: only the cell's length stops it.
    path = write(tmp_path, xlsx_bomb(16 * 1024 * 1024, shared=shared), "bomb.xlsx")

    def read() -> None:
        with pytest.raises(FileUnreadable, match="more than 32,767 characters"):
            read_all_within(path, max_bytes=MAX_GRADE_FILE)

    assert peak_traced_bytes(read) < 8 * 1024 * 1024


def test_an_xlsx_cell_of_excels_most_characters_is_read(tmp_path: Path) -> None:
    content = xlsx_bytes([["student", "comment"], ["ada@example.org", "&" * 32_767]])
    _, rows = read_all(write(tmp_path, content, "grades.xlsx"))
    assert rows == [(2, ["ada@example.org", "&" * 32_767])]
    for shared in (False, True):
        # Short enough for the parser's guard: the cell's own length refuses it.
        too_long = write(tmp_path, xlsx_bomb(32_768, shared=shared), "long.xlsx")
        with pytest.raises(FileUnreadable, match="more than 32,767 characters"):
            read_all(too_long)
