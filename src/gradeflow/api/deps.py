"""Request helpers shared by the JSON routes and the pages: runtime, identity, body."""

from __future__ import annotations

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import Role, User
from gradeflow.accounts.security import SESSION_COOKIE, SESSION_MAX_AGE_S
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.errors import Forbidden, Invalid, TooLarge, Unauthorized
from gradeflow.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def session_user_id(request: Request) -> int | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return get_runtime(request).signer.loads(cookie) if cookie else None


async def optional_user(session: AsyncSession, request: Request) -> User | None:
    user_id = session_user_id(request)
    return await session.get(User, user_id) if user_id is not None else None


async def require_user(session: AsyncSession, request: Request) -> User:
    user = await optional_user(session, request)
    if user is None:
        raise Unauthorized("No session: POST /api/session for an anonymous identity, or sign in.")
    return user


def require_role(user: User, *roles: Role) -> User:
    if user.role not in roles:
        names = " or ".join(r.value for r in roles)
        raise Forbidden(f"Only a {names} may do that.")
    return user


async def user_or_new_anonymous(
    session: AsyncSession, request: Request, response: Response
) -> User:
    """The caller's user, or a new anonymous student kept by a cookie on ``response``."""
    user = await optional_user(session, request)
    if user is None:
        user = await create_anonymous_user(session)
        set_session_cookie(request, response, user.id)
    return user


def set_session_cookie(request: Request, response: Response, user_id: int) -> None:
    runtime = get_runtime(request)
    response.set_cookie(
        SESSION_COOKIE,
        runtime.signer.dumps(user_id),
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=runtime.settings.cookie_secure,
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")


async def read_limited_body(request: Request, *, limit: int) -> bytes:
    """The request body, refusing (413) once it passes ``limit`` bytes without reading on."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"The request body is larger than {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"The request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def decode_utf8(body: bytes, *, what: str = "The request body") -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"{what} is not valid UTF-8 (byte {exc.start}).") from exc
