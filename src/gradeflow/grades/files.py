"""Reading tables from uploaded files: CSV or XLSX, told apart by their content.

Pure (no database, no settings): grade files and rosters both go through
``open_table``. A file that cannot be read as a table at all raises
``FileUnreadable`` with one clear message (old Excel, PDF, images, binary junk, a
damaged XLSX, an unknown encoding, a runaway line), instead of turning into
thousands of row errors. Memory stays bounded whatever the file's size: CSV is
read line by line with a cap on a line's length, XLSX with openpyxl's streaming
(read-only) reader and its shared strings spilled to disk beyond a threshold
(``grades/shared_strings.py``). An XLSX is a ZIP archive, so its parts may unpack to
far more than the upload limit (a "zip bomb"): their declared sizes are checked
against ``XLSX_EXPANSION`` times that limit before anything is unpacked, and the
sheet and shared strings are read through ``_GuardedPart``, which refuses a text run
longer than a cell may be before the XML parser holds it.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal
from xml.etree.ElementTree import ParseError

from gradeflow.grades.shared_strings import SharedStrings, read_shared_strings

# A row of a grade file is a few short cells and a comment of at most 2,000
# characters; the csv module's own field limit (128 KiB) matches this.
MAX_LINE_CHARS = 128 * 1024
MAX_ROWS = 5_000_000
# The most characters a cell holds: Excel's own limit, far above a grade or a comment.
MAX_CELL_CHARS = 32_767
# Text between two tags of an XLSX part, in bytes: a cell's characters at up to ten
# bytes each (an entity such as "&#x10FFFF;"); the XML parser holds at most this much.
MAX_TEXT_RUN_BYTES = 10 * MAX_CELL_CHARS
# An XLSX part may unpack to this many times the upload limit. A sheet's XML packs
# 10-15:1 and a file at the limit would pass MAX_ROWS long before this size.
XLSX_EXPANSION = 20
_GUARD_CHUNK = 64 * 1024  # below MAX_TEXT_RUN_BYTES: a run inside one chunk is short
SNIFF_BYTES = 64 * 1024
READ_CHUNK = 1024 * 1024
DELIMITERS = (",", ";", "\t")

_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel (.xls) or other Office 97 file"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"{\\rtf", "an RTF document"),
]
_SAVE_AS = "Save it as CSV (UTF-8) or as an Excel workbook (.xlsx) and upload that."
# Control characters no text table holds (tab, newlines and form feed are fine).
_BINARY = re.compile("[\x00-\x08\x0b\x0e-\x1f]")


class FileUnreadable(Exception):
    """The file is not a table gradeflow can read; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def normalise_name(name: str) -> str:
    """Header names compare without case and without any whitespace."""
    return "".join(name.replace("\ufeff", "").split()).lower()


def written_name(name: str) -> str:
    """A header name as its author wrote it, without the byte-order mark or outer spaces."""
    return name.replace("\ufeff", "").strip()


@dataclass
class Table:
    """A file's header and, lazily, its rows: (row number as a spreadsheet shows it, cells)."""

    kind: Literal["csv", "xlsx"]
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    header_row: int = 1
    encoding: str | None = None
    delimiter: str | None = None
    # An estimate for progress bars (lines less the header, or the sheet's declared
    # size), never a promise: quoted cells may span lines, blank rows are skipped.
    estimated_rows: int | None = None
    # The header as the file has it, to name columns in messages the way their author does.
    written_header: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Columns:
    """Where the columns a reader knows are in a header; the names it ignores."""

    positions: dict[str, int]
    ignored: list[str] = field(default_factory=list)

    def __contains__(self, name: str) -> bool:
        return name in self.positions

    def cell(self, cells: list[str], name: str) -> str | None:
        """The cell of column ``name`` stripped; None if there is no such column."""
        position = self.positions.get(name)
        if position is None:
            return None
        return cells[position].strip() if position < len(cells) else ""


def find_columns(
    header: list[str], known: tuple[str, ...], *, written: list[str] | None = None
) -> Columns:
    """Locate ``known`` names in a normalised header; a known name twice is unreadable.
    Ignored columns are named as ``written`` (the header as the file has it) names them."""
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for index, name in enumerate(header):
        if name in known:
            if name in positions:
                raise FileUnreadable(
                    f"The header has two '{name}' columns (columns {positions[name] + 1} and "
                    f"{index + 1}); keep one."
                )
            positions[name] = index
        elif name:
            ignored.append(written[index] if written and index < len(written) else name)
    return Columns(positions, ignored)


@contextmanager
def open_table(path: Path, *, max_bytes: int) -> Iterator[Table]:
    """The table in ``path``; raises ``FileUnreadable`` now or while its rows are read.

    ``max_bytes`` is the upload limit the file came under; an XLSX's parts may unpack
    to ``XLSX_EXPANSION`` times it.
    """
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        raise FileUnreadable("The file is empty.")
    if head.startswith(b"PK\x03\x04"):
        with _open_xlsx(path, max_part_bytes=XLSX_EXPANSION * max_bytes) as table:
            yield table
        return
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            raise FileUnreadable(f"This is {what}, not a CSV or XLSX file. {_SAVE_AS}")
    if head.startswith(b"PK"):
        raise FileUnreadable(f"This is a ZIP archive but not an Excel workbook. {_SAVE_AS}")
    encoding, lines = _check_text(path, head)
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        yield _csv_table(text, encoding=encoding, estimated_lines=lines)


def _check_text(path: Path, head: bytes) -> tuple[str, int]:
    """The file's encoding and its number of lines, from one pass over the whole file.

    UTF-8 (with or without BOM) and UTF-16 with BOM are decoded strictly; anything
    else that decodes as Windows-1252 is read as that, the encoding Excel on
    Windows writes "CSV" in.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    elif head.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    else:
        candidates = ["utf-8", "cp1252"]
    for encoding in candidates:
        lines = _decodes_as(path, encoding)
        if lines is not None:
            if lines == -1:
                raise FileUnreadable(f"The file is empty. {_SAVE_AS}")
            return encoding, lines
    if candidates[0] != "utf-8":
        raise FileUnreadable(f"The file starts like {candidates[0]} text but is not. {_SAVE_AS}")
    raise FileUnreadable(
        f"The file is not text in UTF-8, UTF-16 or Windows-1252 (binary data?). {_SAVE_AS}"
    )


def _decodes_as(path: Path, encoding: str) -> int | None:
    """Lines in the file if all of it decodes as ``encoding`` text (-1: only blank),
    None if it does not or holds binary control characters.

    A line is counted at its newline, plus a last one without (the newline that ends
    the file starts no line).
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    lines = 0
    open_line = False
    blank = True
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(READ_CHUNK)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError:
                return None
            if _BINARY.search(text):
                return None
            lines += text.count("\n")
            if text:
                open_line = not text.endswith("\n")
            if blank and text.strip(" \t\r\n\ufeff"):
                blank = False
            if not chunk:
                break
    return -1 if blank else lines + int(open_line)


def _lines(text: IO[str]) -> Iterator[str]:
    """Lines of ``text``, refusing one longer than ``MAX_LINE_CHARS`` without reading it all."""
    number = 0
    while True:
        try:
            line = text.readline(MAX_LINE_CHARS + 1)
        except UnicodeDecodeError as exc:  # the pre-pass makes this unlikely; still say so
            raise FileUnreadable(f"Line {number + 1} is not valid text: {exc.reason}.") from exc
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise FileUnreadable(
                f"Line {number} is longer than {MAX_LINE_CHARS:,} characters; a grade file's "
                f"rows are short. {_SAVE_AS}"
            )
        yield line


def _pick_delimiter(header_line: str) -> str:
    """The delimiter under which the header names the most known columns, else the commonest."""
    known = {"student", "grade", "assessment", "comment"}

    def score(delimiter: str) -> tuple[int, int]:
        names = next(csv.reader([header_line], delimiter=delimiter), [])
        return (len(known & {normalise_name(n) for n in names}), header_line.count(delimiter))

    return max(DELIMITERS, key=score)


def _csv_table(text: IO[str], *, encoding: str, estimated_lines: int) -> Table:
    lines = _lines(text)
    header_row = 0
    for line in lines:
        header_row += 1
        if line.strip():
            break
    else:
        raise FileUnreadable("The file is empty.")
    delimiter = _pick_delimiter(line)
    try:
        header = next(csv.reader([line], delimiter=delimiter))
    except csv.Error as exc:
        raise FileUnreadable(f"The header row is not valid CSV: {exc}.") from exc

    def rows() -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(lines, delimiter=delimiter, strict=False)
        number = header_row
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise FileUnreadable(f"Row {number + 1} is not valid CSV: {exc}.") from exc
            number += 1
            if number - header_row > MAX_ROWS:
                raise FileUnreadable(f"The file has more than {MAX_ROWS:,} rows; split it.")
            # One join instead of a strip per cell: this runs once per row of a large file.
            if "".join(cells).strip():
                yield number, cells

    return Table(
        kind="csv",
        header=[normalise_name(name) for name in header],
        rows=rows(),
        header_row=header_row,
        encoding=encoding,
        delimiter=delimiter,
        estimated_rows=max(estimated_lines - header_row, 0),
        written_header=[written_name(name) for name in header],
    )


# What a damaged or truncated workbook raises from inside zipfile, zlib and openpyxl
# (TypeError: openpyxl builds its objects from the XML's attributes, so a damaged
# attribute name reaches a constructor as an unexpected keyword).
_XLSX_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    ParseError,
    KeyError,
    ValueError,
    EOFError,
    OSError,
    TypeError,
)


def _too_long_cell() -> FileUnreadable:
    return FileUnreadable(
        f"A cell of the workbook holds more than {MAX_CELL_CHARS:,} characters, more than "
        f"Excel allows in one (a damaged or hostile file?). {_SAVE_AS}"
    )


class _GuardedPart:
    """A part of the workbook as the XML parser reads it, refusing what would make it
    hold an unbounded text: a run of more than ``MAX_TEXT_RUN_BYTES`` without a tag,
    a DOCTYPE (entities expand) or a CDATA section (its text may hold "<"). Excel
    writes neither. Reads at most ``_GUARD_CHUNK`` bytes at a time, so only runs
    across chunks need counting."""

    _MARKERS = (b"<!DOCTYPE", b"<![CDATA[")

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._run = 0  # bytes since the last "<"
        self._tail = b""  # the end of the previous chunk, for markers across chunks

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(_GUARD_CHUNK if size < 0 else min(size, _GUARD_CHUNK))
        first = chunk.find(b"<")
        self._run += len(chunk) if first == -1 else first
        if self._run > MAX_TEXT_RUN_BYTES:
            raise _too_long_cell()
        if first != -1:
            self._run = len(chunk) - chunk.rindex(b"<") - 1
        window = self._tail + chunk
        if any(marker in window for marker in self._MARKERS):
            raise FileUnreadable(
                f"The workbook holds XML that Excel does not write (DOCTYPE or CDATA). {_SAVE_AS}"
            )
        self._tail = chunk[-(len(self._MARKERS[0]) - 1) :]
        return chunk

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _GuardedPart:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _GuardedArchive:
    """The workbook's archive as openpyxl's read-only sheets open it: each part guarded."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive

    def open(self, name: str, mode: Literal["r"] = "r") -> _GuardedPart:
        return _GuardedPart(self._archive.open(name, mode))

    def close(self) -> None:
        self._archive.close()


def _xlsx_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
        raise _too_long_cell()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _load_workbook(handle: IO[bytes]) -> tuple[Any, SharedStrings]:
    """openpyxl's read-only workbook, with its shared strings in bounded memory.

    ``load_workbook`` less its ``read_strings``, which would hold the whole table.
    """
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.xml.constants import SHARED_STRINGS

    strings = SharedStrings()

    class BoundedReader(ExcelReader):
        def read_workbook(self) -> None:
            super().read_workbook()
            # Read-only sheets open their part from here (to size it, then for its rows).
            self.wb._archive = _GuardedArchive(self.archive)  # type: ignore[attr-defined]

        def read_strings(self) -> None:
            nonlocal strings
            part = self.package.find(SHARED_STRINGS)  # type: ignore[no-untyped-call]
            if part is not None:
                with _GuardedPart(self.archive.open(part.PartName[1:])) as source:
                    strings = read_shared_strings(source)  # type: ignore[arg-type]
            # Indexed like the list openpyxl types it as; only indexing is used.
            self.shared_strings = strings  # type: ignore[assignment]

    reader = BoundedReader(handle, read_only=True, data_only=True)
    try:
        reader.read()
    except BaseException:
        strings.close()
        raise
    return reader.wb, strings


@contextmanager
def _open_xlsx(path: Path, *, max_part_bytes: int) -> Iterator[Table]:
    # Imported here: openpyxl costs ~100 ms to import and only XLSX uploads need it.
    from openpyxl.utils.exceptions import InvalidFileException

    damaged = f"The Excel workbook is damaged or incomplete (was the upload cut off?). {_SAVE_AS}"
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise FileUnreadable(damaged) from exc
    names = {part.filename for part in parts}
    # The sizes the archive declares; zipfile never unpacks more than that of a part.
    for part in parts:
        if part.file_size > max_part_bytes:
            raise FileUnreadable(
                f"The workbook's part {part.filename} unpacks to {part.file_size:,} bytes, "
                f"more than {max_part_bytes:,} ({XLSX_EXPANSION} times the upload limit): "
                f"not a grade table (a ZIP bomb?). {_SAVE_AS}"
            )
    if "xl/workbook.xml" not in names:
        raise FileUnreadable(f"This ZIP archive is not an Excel workbook (.xlsx). {_SAVE_AS}")
    # A file object, not the path: openpyxl judges a path by its extension, and the
    # content is what counts here (an XLSX named .csv is still an XLSX).
    handle = path.open("rb")
    try:
        workbook, strings = _load_workbook(handle)
    except (InvalidFileException, *_XLSX_DAMAGE) as exc:
        handle.close()
        raise FileUnreadable(damaged) from exc
    except BaseException:  # refused by a guard, or interrupted
        handle.close()
        raise
    try:
        if not workbook.worksheets:
            raise FileUnreadable("The workbook has no worksheet.")
        sheet = workbook.worksheets[0]
        cells = sheet.iter_rows(values_only=True)

        def read(what: Iterator[tuple[object, ...]]) -> tuple[object, ...] | None:
            try:
                return next(what, None)
            except (InvalidFileException, *_XLSX_DAMAGE) as exc:
                raise FileUnreadable(damaged) from exc

        header_row = 0
        while True:
            first = read(cells)
            if first is None:
                raise FileUnreadable("The file is empty: its first worksheet has no rows.")
            header_row += 1
            header = [_xlsx_text(value) for value in first]
            if any(name.strip() for name in header):
                break

        def rows() -> Iterator[tuple[int, list[str]]]:
            number = header_row
            while (values := read(cells)) is not None:
                number += 1
                if number - header_row > MAX_ROWS:
                    raise FileUnreadable(f"The sheet has more than {MAX_ROWS:,} rows; split it.")
                row = [_xlsx_text(value) for value in values]
                if any(cell.strip() for cell in row):
                    yield number, row

        declared = sheet.max_row if isinstance(sheet.max_row, int) else None
        yield Table(
            kind="xlsx",
            header=[normalise_name(name) for name in header],
            rows=rows(),
            header_row=header_row,
            estimated_rows=max(declared - header_row, 0) if declared else None,
            written_header=[written_name(name) for name in header],
        )
    finally:
        workbook.close()
        strings.close()
        handle.close()
