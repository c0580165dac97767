"""An XLSX's shared-strings table in bounded memory.

openpyxl's reader loads the whole table into a list before the first row is read
(a million distinct emails: ~100 MB), and its parse keeps an emptied element per
string. Here the table is parsed as a stream (each string's element dropped once
read) and kept in memory only up to ``MEMORY_CHARS`` characters; beyond that the
strings go to a temporary file, found through a fixed-width index file beside it,
both read through ``mmap`` (the page cache, not the process's heap). Workbooks
are written in order of first use, so cells mostly look up nearby entries.
"""

from __future__ import annotations

import mmap
import struct
import tempfile
from collections.abc import Iterable
from typing import IO, Any

# Strings kept in memory before the table spills to disk (ordinary workbooks never do).
MEMORY_CHARS = 256_000
_ENTRY = struct.Struct("<QI")  # offset and length of one string in the data file
_WRITE_BUFFER = 256 * 1024  # each of the two files; small: they are written once, in order


class SharedStrings:
    """``strings[i]`` as openpyxl's worksheet reader asks for it; ``close`` frees the files."""

    def __init__(self, *, memory_chars: int = MEMORY_CHARS) -> None:
        self._memory: list[str] = []
        self._memory_chars = 0
        self._memory_limit = memory_chars
        self._spilled = 0
        self._data: IO[bytes] | None = None
        self._index: IO[bytes] | None = None
        self._data_offset = 0
        self._data_map: mmap.mmap | None = None
        self._index_map: mmap.mmap | None = None

    @property
    def spilled(self) -> int:
        """How many strings live on disk."""
        return self._spilled

    def append(self, text: str) -> None:
        if self._data is None and self._memory_chars + len(text) <= self._memory_limit:
            self._memory.append(text)
            self._memory_chars += len(text)
            return
        if self._data is None or self._index is None:
            # Open for the table's lifetime, closed (and so deleted) by ``close``.
            self._data = tempfile.TemporaryFile(buffering=_WRITE_BUFFER)  # noqa: SIM115
            self._index = tempfile.TemporaryFile(buffering=_WRITE_BUFFER)  # noqa: SIM115
        encoded = text.encode("utf-8")
        self._data.write(encoded)
        self._index.write(_ENTRY.pack(self._data_offset, len(encoded)))
        self._data_offset += len(encoded)
        self._spilled += 1

    def finish(self) -> None:
        """Done appending: map the files for reading."""
        if self._data is None or self._index is None:
            return
        self._data.flush()
        self._index.flush()
        if self._data_offset:
            self._data_map = mmap.mmap(self._data.fileno(), 0, access=mmap.ACCESS_READ)
        self._index_map = mmap.mmap(self._index.fileno(), 0, access=mmap.ACCESS_READ)

    def __len__(self) -> int:
        return len(self._memory) + self._spilled

    def __getitem__(self, position: int) -> str:
        in_memory = len(self._memory)
        if 0 <= position < in_memory:
            return self._memory[position]
        spilled = position - in_memory
        if not 0 <= spilled < self._spilled or self._index_map is None:
            # What a list says: openpyxl's callers treat it as a damaged workbook.
            raise IndexError("shared string index out of range")
        offset, length = _ENTRY.unpack_from(self._index_map, spilled * _ENTRY.size)
        if length == 0 or self._data_map is None:
            return ""
        return self._data_map[offset : offset + length].decode("utf-8")

    def close(self) -> None:
        for mapped in (self._data_map, self._index_map):
            if mapped is not None:
                mapped.close()
        for handle in (self._data, self._index):
            if handle is not None:
                handle.close()
        self._data_map = self._index_map = None
        self._data = self._index = None


def read_shared_strings(source: IO[bytes], *, memory_chars: int = MEMORY_CHARS) -> SharedStrings:
    """The ``sharedStrings.xml`` part as a ``SharedStrings``, parsed as a stream."""
    from openpyxl.cell.text import Text
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    string_tag = f"{{{SHEET_MAIN_NS}}}si"
    strings = SharedStrings(memory_chars=memory_chars)
    try:
        root: Any = None
        events: Iterable[tuple[str, Any]] = iterparse(source, events=("start", "end"))
        for event, node in events:
            if root is None:
                root = node  # <sst>: emptied as its strings are read
            elif event == "end" and node.tag == string_tag:
                # As openpyxl's own reader reads it (its escape of "_" undone).
                text = Text.from_tree(node)
                strings.append(text.content.replace("x005F_", "") if text is not None else "")
                root.clear()
        strings.finish()
    except BaseException:
        strings.close()
        raise
    return strings
