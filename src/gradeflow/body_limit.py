"""One bound on every request body, counted as it arrives, declared length or not.

Without it a route whose body FastAPI parses (sign-in, say) reads any body whole,
before it even knows who is asking. A route that needs more room, or that bounds its
body itself with a message of its own (submit, authoring, uploads), says so with
``set_body_limit`` before it reads. JSON bodies must also be UTF-8 (RFC 8259), which
FastAPI's parser does not insist on.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "gradeflow.body_limit"


class BodyTooLarge(HTTPException):
    """The body passed the request's limit; ``app.py`` answers it in the error shape."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


class JsonNotUtf8(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            422, "The request body is JSON in UTF-16 or UTF-32; send it as UTF-8 (RFC 8259)."
        )


@dataclass
class _Limit:
    max_bytes: int | None


def set_body_limit(scope: Scope, limit: int | None) -> None:
    """This request's bound instead of the general one; None: the route bounds it itself."""
    current = scope.get(SCOPE_KEY)
    if isinstance(current, _Limit):
        current.max_bytes = limit


def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _utf16_or_32(start: bytes) -> bool:
    # RFC 8259 text starts with two ASCII characters: in UTF-16 or UTF-32 a NUL is among
    # the first four bytes (RFC 4627, section 3), or a UTF-16 byte order mark leads.
    return b"\x00" in start or start.startswith((b"\xfe\xff", b"\xff\xfe"))


class RequestBodyLimit:
    """Refuse (413) a body once it passes the limit, without reading further.

    Pure ASGI: it checks what the app reads through ``receive``. A declared length above
    the limit is refused at the first read; a streamed one when its bytes pass it. Once
    the response has started the body is passed through unchecked: a stream's
    disconnect watch reads on after a route that never read the body.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = _declared_length(headers)
        check_encoding = _is_json(headers.get("content-type"))
        limit = _Limit(self.max_bytes)
        scope[SCOPE_KEY] = limit
        received = 0
        start = b""
        responding = False

        async def bounded_receive() -> Message:
            nonlocal received, start
            if responding:
                return await receive()
            if limit.max_bytes is not None and declared is not None and declared > limit.max_bytes:
                raise BodyTooLarge(limit.max_bytes)
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if limit.max_bytes is not None and received > limit.max_bytes:
                raise BodyTooLarge(limit.max_bytes)
            if check_encoding and len(start) < 4:
                start += chunk[: 4 - len(start)]
                if _utf16_or_32(start):
                    raise JsonNotUtf8()
            return message

        async def watched_send(message: Message) -> None:
            nonlocal responding
            if message["type"] == "http.response.start":
                responding = True
            await send(message)

        await self.app(scope, bounded_receive, watched_send)
