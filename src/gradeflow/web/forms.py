"""CSRF protection for the pages' form posts.

Each browser gets a random key in a cookie; its forms carry an HMAC of that key
under the server's secret. Another site can make the browser post a form, but can
neither read the cookie nor compute the token, so its post is refused. (JSON API
calls need no token: browsers only send them cross-site after a CORS check we
never pass, and Bearer calls carry no cookie at all.)
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from gradeflow.accounts.security import CSRF_COOKIE, SESSION_MAX_AGE_S
from gradeflow.deps import AppRuntime, receive_upload
from gradeflow.errors import Forbidden
from gradeflow.grades.intake import ReceivedForm

MAX_FORM_FIELDS = 50


def form_token(request: Request, response: Response, runtime: AppRuntime) -> str:
    """The token a page puts in its forms, setting the browser's key if it has none."""
    key = request.cookies.get(CSRF_COOKIE)
    if not key:
        key = secrets.token_urlsafe(32)
        response.set_cookie(
            CSRF_COOKIE,
            key,
            max_age=SESSION_MAX_AGE_S,
            httponly=True,
            samesite="lax",
            secure=runtime.settings.cookie_secure,
        )
    return runtime.signer.form_token(key)


FormToken = Annotated[str, Depends(form_token)]


async def checked_form(request: Request, runtime: AppRuntime) -> FormData:
    """The posted form, refused (403) unless it carries this browser's token."""
    return await read_checked_form(request, runtime, max_fields=MAX_FORM_FIELDS)


async def read_checked_form(request: Request, runtime: AppRuntime, *, max_fields: int) -> FormData:
    """``checked_form`` for a form of up to ``max_fields`` fields."""
    form = await request.form(max_files=0, max_fields=max_fields)
    key = request.cookies.get(CSRF_COOKIE, "")
    token = form.get("csrf_token")
    if not key or not isinstance(token, str) or not runtime.signer.form_token_matches(key, token):
        raise _expired_form()
    return form


async def receive_checked_upload(
    request: Request, runtime: AppRuntime, *, max_file_bytes: int
) -> ReceivedForm:
    """A posted multipart form, its file streamed into the blob store; refused (403, the
    file deleted) unless it carries this browser's token. The token is read from the
    streamed fields once the body is in: ``checked_form`` would spool the file."""
    form = await receive_upload(request, runtime.blobs, max_file_bytes=max_file_bytes)
    assert form.file is not None
    key = request.cookies.get(CSRF_COOKIE, "")
    token = form.fields.get("csrf_token", "")
    if not key or not runtime.signer.form_token_matches(key, token):
        await runtime.blobs.delete(form.file.key)
        raise _expired_form()
    return form


def _expired_form() -> Forbidden:
    return Forbidden(
        "This form has expired or was sent from another site; reload the page and try again."
    )


CheckedForm = Annotated[FormData, Depends(checked_form)]


def text_field(form: FormData, name: str, *, max_length: int = 1000) -> str:
    value = form.get(name, "")
    return value[:max_length] if isinstance(value, str) else ""


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site, so a crafted link cannot send a user elsewhere."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default
