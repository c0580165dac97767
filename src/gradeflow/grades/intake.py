"""Receiving a multipart upload chunk by chunk: its file into the blob store, its fields.

The body is fed to python-multipart's streaming parser as it arrives; file bytes go
to a new blob (hashed and counted on the way), so memory stays at one chunk
whatever the file's size. Over the limit the upload stops at once (413) and the
partial blob is deleted; so it is on any other failure.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from gradeflow.errors import Invalid, TooLarge, UnsupportedMediaType
from gradeflow.grades.blobs import BlobStore, NewBlob

MAX_FIELD_BYTES = 1000
MAX_FIELDS = 20
FILE_FIELD = "file"


@dataclass(frozen=True)
class ReceivedFile:
    key: str
    filename: str
    size: int
    sha256: str


@dataclass
class ReceivedForm:
    file: ReceivedFile | None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)


def _clean_filename(raw: str) -> str:
    # Browsers send a base name; older ones a Windows path. Keep only the last part.
    name = PureWindowsPath(PurePosixPath(raw).name).name.strip()
    return name[:255] or "upload"


def _too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"The file is larger than {limit // (1024 * 1024)} MiB, the upload limit.",
        details={"limit_bytes": limit},
    )


async def receive_form(
    chunks: AsyncIterator[bytes],
    *,
    content_type: str,
    content_length: str | None,
    store: BlobStore,
    max_file_bytes: int,
) -> ReceivedForm:
    """Stream a ``multipart/form-data`` body: the ``file`` part into a new blob, small fields.

    The blob is kept only if this returns; the caller deletes it if what follows fails.
    """
    media, params = parse_options_header(content_type)
    if media != b"multipart/form-data":
        raise UnsupportedMediaType("Send the file as multipart/form-data in a field named 'file'.")
    boundary = params.get(b"boundary")
    if not boundary:
        raise Invalid("The multipart body has no boundary.")
    # The whole body may exceed the file a little (fields, part headers).
    body_limit = max_file_bytes + 64 * 1024
    if (
        content_length is not None
        and content_length.isascii()
        and content_length.isdigit()
        and int(content_length) > body_limit
    ):
        raise _too_large(max_file_bytes)

    events: list[tuple[str, bytes]] = []
    header_name = bytearray()
    header_value = bytearray()

    def on_header_end() -> None:
        events.append(("header", bytes(header_name) + b"\0" + bytes(header_value)))
        header_name.clear()
        header_value.clear()

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": lambda: events.append(("begin", b"")),
            "on_header_field": lambda data, start, end: header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: header_value.extend(data[start:end]),
            "on_header_end": on_header_end,
            "on_headers_finished": lambda: events.append(("headers", b"")),
            "on_part_data": lambda data, start, end: events.append(("data", data[start:end])),
            "on_part_end": lambda: events.append(("end", b"")),
        },
    )
    form = ReceivedForm(file=None)
    part = _Part()
    blob: NewBlob | None = None
    digest = hashlib.sha256()
    size = 0
    received = 0
    filename: str | None = None  # the file's part has ended
    async with AsyncExitStack() as stack:
        async for chunk in chunks:
            received += len(chunk)
            if received > body_limit:
                raise _too_large(max_file_bytes)
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise Invalid(f"The multipart body is malformed: {exc}.") from exc
            for kind, data in events:
                if kind == "begin":
                    part = _Part()
                elif kind == "header":
                    name, _, value = data.partition(b"\0")
                    if name.lower() == b"content-disposition":
                        _, disposition = parse_options_header(value)
                        part.name = disposition.get(b"name", b"").decode("utf-8", "replace")
                        raw = disposition.get(b"filename")
                        part.filename = None if raw is None else raw.decode("utf-8", "replace")
                elif kind == "headers":
                    if part.name == FILE_FIELD:
                        if blob is not None:
                            raise Invalid("Send one file per upload.")
                        blob = await stack.enter_async_context(store.create())
                    elif len(form.fields) >= MAX_FIELDS:
                        raise Invalid("The form has too many fields.")
                elif kind == "data":
                    if part.name == FILE_FIELD and blob is not None:
                        size += len(data)
                        if size > max_file_bytes:
                            raise _too_large(max_file_bytes)
                        digest.update(data)
                        await blob.write(data)
                    else:
                        part.value += data
                        if len(part.value) > MAX_FIELD_BYTES:
                            raise Invalid(f"The form field {part.name!r} is too long.")
                elif kind == "end" and part.name != FILE_FIELD and part.name:
                    form.fields[part.name] = part.value.decode("utf-8", "replace")
                elif kind == "end" and blob is not None and filename is None:
                    filename = _clean_filename(part.filename or "")
            events.clear()
        try:
            parser.finalize()
        except MultipartParseError as exc:
            raise Invalid(f"The multipart body is malformed: {exc}.") from exc
        if blob is None or filename is None:
            raise Invalid("The form has no file: send it in a field named 'file'.")
    # The key is read once the blob is complete: a store may name it only then.
    form.file = ReceivedFile(key=blob.key, filename=filename, size=size, sha256=digest.hexdigest())
    return form
