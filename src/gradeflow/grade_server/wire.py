"""The frames between ``gradeflow grade`` and its warm grader: a 4-byte big-endian
length, then that many bytes of UTF-8 JSON (one object). Standard library only.

A request names what to grade as the user typed it, with the caller's directory:
``{"cwd", "path", "code", "json"}``. The answer is either the command's output,
``{"exit", "stdout", "stderr"}``, or ``{"retry": reason}``: the server cannot
answer this call (stale code, a broken sandbox) and the caller grades on its own.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

MAX_REQUEST_BYTES = 64 * 1024
# The output is bounded by the run's output limit (a setting) per stream, plus the
# per-test messages; far below this.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
_LENGTH = struct.Struct(">I")


class WireError(Exception):
    """The other end sent something that is not a frame, or closed mid-frame."""


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return _LENGTH.pack(len(body)) + body


def decode_length(header: bytes, *, limit: int) -> int:
    (length,) = _LENGTH.unpack(header)
    if length > limit:
        raise WireError(f"a frame of {length} bytes is over the limit of {limit}")
    return int(length)


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError("a frame is not UTF-8 JSON") from exc
    if not isinstance(message, dict):
        raise WireError("a frame is not a JSON object")
    return message


def receive_frame(connection: socket.socket, *, limit: int) -> dict[str, Any]:
    """One frame from a blocking socket."""
    length = decode_length(_receive_exactly(connection, _LENGTH.size), limit=limit)
    return decode_body(_receive_exactly(connection, length))


def _receive_exactly(connection: socket.socket, count: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = connection.recv(min(count - len(chunks), 1 << 20))
        if not chunk:
            raise WireError("the connection closed mid-frame")
        chunks += chunk
    return bytes(chunks)
