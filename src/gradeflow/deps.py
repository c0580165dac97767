"""Request dependencies shared by the JSON routes and the pages.

A route declares what it needs as typed parameters (``session: DbSession``,
``user: CurrentUser``) instead of opening a transaction and checking identity by
hand. ``DbSession`` is the request's unit of work: it commits when the route
returns, before the response is sent, then runs the follow-ups services registered
with ``db.after_commit`` (publish jobs, purge caches, wake streams); it rolls back
when the route raises, and the follow-ups are dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import Role, User
from gradeflow.accounts.security import SESSION_COOKIE, SESSION_MAX_AGE_S
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.accounts.tokens import user_for_token
from gradeflow.courses.members import taught_course
from gradeflow.courses.models import Course
from gradeflow.db import transaction
from gradeflow.errors import Forbidden, Invalid, TooLarge, Unauthorized
from gradeflow.runtime import Runtime

# Ids are database integers: a larger number is no id of ours, refused as invalid
# input instead of overflowing the database's integer type.
MAX_ID = 2**63 - 1
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


AppRuntime = Annotated[Runtime, Depends(get_runtime)]


async def db_session(runtime: AppRuntime) -> AsyncIterator[AsyncSession]:
    async with transaction(runtime.session_factory) as session:
        yield session


# scope="function": the commit (and what follows it) happens when the route returns,
# not after the response has gone out, so a client never sees a change before it is
# durable and a failed commit is reported as an error instead of a success.
DbSession = Annotated[AsyncSession, Depends(db_session, scope="function")]


def session_user_id(request: Request) -> int | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return get_runtime(request).signer.loads(cookie) if cookie else None


async def optional_user(request: Request, session: DbSession) -> User | None:
    """The caller by API token (``Authorization: Bearer``) or else by session cookie."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, secret = authorization.partition(" ")
        user = await user_for_token(session, secret.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            # A script with a bad token must hear so, not be treated as a new visitor.
            raise Unauthorized(
                "The API token is unknown or revoked; create one on the account page.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return user
    user_id = session_user_id(request)
    return await session.get(User, user_id) if user_id is not None else None


OptionalUser = Annotated[User | None, Depends(optional_user)]


async def current_user(user: OptionalUser) -> User:
    if user is None:
        raise Unauthorized("No session: POST /api/session for an anonymous identity, or sign in.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(user: User, *roles: Role) -> User:
    if user.role not in roles:
        names = " or ".join(r.value for r in roles)
        raise Forbidden(f"Only a {names} may do that.")
    return user


async def current_teacher(user: CurrentUser) -> User:
    """A teacher, or an admin (who may do whatever a teacher may)."""
    return require_role(user, Role.teacher, Role.admin)


CurrentTeacher = Annotated[User, Depends(current_teacher)]


async def current_admin(user: CurrentUser) -> User:
    return require_role(user, Role.admin)


CurrentAdmin = Annotated[User, Depends(current_admin)]


async def visitor(
    request: Request, response: Response, session: DbSession, user: OptionalUser
) -> User:
    """The caller, or a new anonymous student whose cookie goes out with the response."""
    if user is None:
        user = await create_anonymous_user(session)
        set_session_cookie(request, response, user.id)
    return user


Visitor = Annotated[User, Depends(visitor)]


class SignInRequired(Exception):
    """A page needs an account: the visitor is sent to sign in, then on to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def _page_to_return_to(request: Request) -> str:
    """Where to come back after signing in: this page, or for a form post the page
    that held the form (the post itself cannot be replayed by a redirect)."""
    if request.method == "GET":
        query = f"?{request.url.query}" if request.url.query else ""
        return request.url.path + query
    referer = urlsplit(request.headers.get("referer", ""))
    same_site = referer.netloc in ("", request.url.netloc)
    return referer.path if same_site and referer.path.startswith("/") else "/"


async def account_holder(request: Request, user: OptionalUser) -> User:
    """A page's signed-in caller; anyone else goes to sign in first."""
    if user is None or user.is_anonymous:
        raise SignInRequired(_page_to_return_to(request))
    return user


AccountHolder = Annotated[User, Depends(account_holder)]


async def _taught_course(course_id: PathId, session: DbSession, user: CurrentUser) -> Course:
    return await taught_course(session, course_id=course_id, user=user)


async def _taught_course_page(course_id: PathId, session: DbSession, user: AccountHolder) -> Course:
    return await taught_course(session, course_id=course_id, user=user)


# The course of the path's ``course_id`` when the caller teaches it: 404 if they may
# not see it, 403 if they see it but do not teach it; pages send visitors to sign in.
TaughtCourse = Annotated[Course, Depends(_taught_course)]
TaughtCoursePage = Annotated[Course, Depends(_taught_course_page)]


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


def client_address(request: Request) -> str:
    # Behind nginx, uvicorn's proxy-headers handling has already put the client's
    # address here (it trusts X-Forwarded-For from loopback only).
    return request.client.host if request.client else "unknown"


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
