"""An XLSX whose shared-strings table is large is read in bounded memory (tracemalloc)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

from gradeflow.grades.files import open_table
from gradeflow.grades.shared_strings import MEMORY_CHARS, SharedStrings, read_shared_strings
from tests.factories import MAX_GRADE_FILE, peak_traced_bytes

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006"
ROWS = 12_000
COMMENT_CHARS = 400


def _comment(row: int) -> str:
    return f"{row:06d} " + "é" * 3 + "x" * (COMMENT_CHARS - 10)


def write_xlsx_with_distinct_strings(path: Path) -> int:
    """A workbook of ``ROWS`` rows, every email and comment a distinct shared string;
    the characters its shared-strings table holds."""
    strings = ["student", "grade", "comment"]
    rows = ['<row r="1"><c t="s"><v>0</v></c><c t="s"><v>1</v></c><c t="s"><v>2</v></c></row>']
    for row in range(ROWS):
        strings += [f"s{row}@example.org", _comment(row)]
        email, comment = len(strings) - 2, len(strings) - 1
        rows.append(
            f'<row r="{row + 2}"><c t="s"><v>{email}</v></c><c><v>{row % 100}</v></c>'
            f'<c t="s"><v>{comment}</v></c></row>'
        )
    shared = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{PKG}/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{PKG}/relationships">'
        f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
        "xl/workbook.xml": f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
        '<sheet name="Grades" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{PKG}/relationships">'
        f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>",
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{MAIN}"><sheetData>'
        + "".join(rows)
        + "</sheetData></worksheet>",
        "xl/sharedStrings.xml": f'<sst xmlns="{MAIN}" count="{len(strings)}" '
        f'uniqueCount="{len(strings)}">{shared}</sst>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return sum(len(text) for text in strings)


def _warm_up(tmp_path: Path) -> None:
    """Read a tiny workbook first: importing openpyxl (~5 MB) is not the file's cost."""
    small = tmp_path / "small.xlsx"
    with zipfile.ZipFile(small, "w") as archive, zipfile.ZipFile(_big(tmp_path)) as big:
        for name in big.namelist():
            if name not in ("xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"):
                archive.writestr(name, big.read(name))
        archive.writestr(
            "xl/sharedStrings.xml", f'<sst xmlns="{MAIN}"><si><t>student</t></si></sst>'
        )
        archive.writestr(
            "xl/worksheets/sheet1.xml",
            f'<worksheet xmlns="{MAIN}"><sheetData><row r="1"><c t="s"><v>0</v></c></row>'
            "</sheetData></worksheet>",
        )
    with open_table(small, max_bytes=MAX_GRADE_FILE) as table:
        list(table.rows)


def _big(tmp_path: Path) -> Path:
    return tmp_path / "grades.csv"  # the name does not matter: the content is an XLSX


def test_a_large_shared_strings_table_is_read_in_bounded_memory(tmp_path: Path) -> None:
    table_chars = write_xlsx_with_distinct_strings(_big(tmp_path))
    # As Python strings (two bytes a character: the comments are not ASCII), ~10 MB:
    # what openpyxl's own reader holds for the whole read.
    assert table_chars > 4_900_000
    _warm_up(tmp_path)

    def read_strings() -> None:
        with zipfile.ZipFile(_big(tmp_path)) as archive:
            with archive.open("xl/sharedStrings.xml") as source:
                strings = read_shared_strings(source)
            try:
                assert strings[len(strings) - 1] == _comment(ROWS - 1)
                assert strings.spilled > 0.9 * len(strings)
            finally:
                strings.close()

    # The table alone: what is kept in memory (MEMORY_CHARS, up to two bytes a
    # character here), the two files' write buffers and the parse's.
    peak = peak_traced_bytes(read_strings)
    assert peak < 2 * MEMORY_CHARS + 1_000_000, f"peak {peak / 1e6:.1f} MB"

    rows: list[tuple[int, list[str]]] = []

    def read_file() -> None:
        with open_table(_big(tmp_path), max_bytes=MAX_GRADE_FILE) as table:
            assert (table.kind, table.header) == ("xlsx", ["student", "grade", "comment"])
            for number, cells in table.rows:
                if number in (2, ROWS + 1):
                    rows.append((number, cells))

    # The whole file, every row read: well under the table's own size in memory
    # (openpyxl's sheet parser still keeps ~100 bytes per row it has read).
    peak = peak_traced_bytes(read_file)
    assert rows == [
        (2, ["s0@example.org", "0", _comment(0)]),
        (ROWS + 1, [f"s{ROWS - 1}@example.org", str((ROWS - 1) % 100), _comment(ROWS - 1)]),
    ]
    assert peak < 6_000_000, f"peak {peak / 1e6:.1f} MB"


def test_spilled_strings_read_back_as_written() -> None:
    written = ["student", "", "grüße ✓", "x" * 50, "", "last"]
    strings = SharedStrings(memory_chars=10)
    try:
        for text in written:
            strings.append(text)
        strings.finish()
        assert strings.spilled == 4  # "student" and "" fit in the 10 characters kept
        assert [strings[i] for i in range(len(strings))] == written
        for outside in (len(written), -1):
            try:
                strings[outside]
            except IndexError:
                continue
            raise AssertionError(f"index {outside} was read")
    finally:
        strings.close()
