"""Request dependencies shared by the JSON routes and the pages.

A route declares what it needs as typed parameters (``session: DbSession``,
``user: CurrentUser``) instead of opening a transaction and checking identity by
hand. ``DbSession`` is the request's unit of work: it commits when the route
returns, before the response is sent, then runs the follow-ups services registered
with ``db.after_commit`` (publish jobs, purge caches, wake streams); it rolls back
when the route raises, and the follow-ups are dropped. A route that answers a refused
change with a page (a form shown again with the reason) makes the change inside
``db.savepoint(session)``: the refusal then changes nothing, and the page is read in
the same unit of work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

from fastapi import Depends, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.identity import Caller, caller_for_token, caller_for_user
from gradeflow.accounts.models import Role, User
from gradeflow.accounts.security import SESSION_COOKIE, SESSION_MAX_AGE_S
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.body_limit import set_body_limit
from gradeflow.courses.members import taught_course
from gradeflow.courses.models import Course

# Re-exported: the API modules take the id bounds from here.
from gradeflow.db import MAX_EVENT_ID as MAX_EVENT_ID
from gradeflow.db import MAX_ID as MAX_ID
from gradeflow.db import transaction
from gradeflow.errors import Forbidden, Invalid, TooLarge, Unauthorized
from gradeflow.grades.blobs import BlobStore
from gradeflow.grades.intake import ReceivedForm, receive_form
from gradeflow.runtime import Runtime

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
NO_SESSION = "No session: POST /api/session for an anonymous identity, or sign in."


def runtime_of(request: Request) -> Runtime:
    """The process's runtime, for the hottest reads: each dependency a route declares
    costs FastAPI more per request than those reads' own work (see PERFORMANCE.md)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain function dependency in a thread, a hop per request.
    return runtime_of(request)


AppRuntime = Annotated[Runtime, Depends(get_runtime)]


async def db_session(runtime: AppRuntime) -> AsyncIterator[AsyncSession]:
    async with transaction(runtime.session_factory) as session:
        yield session


# scope="function": the commit (and what follows it) happens when the route returns,
# not after the response has gone out, so a client never sees a change before it is
# durable and a failed commit is reported as an error instead of a success.
DbSession = Annotated[AsyncSession, Depends(db_session, scope="function")]


async def optional_caller(request: Request) -> Caller | None:
    """The caller by API token (``Authorization: Bearer``) or else by session cookie;
    from this process's cache when seen lately (``accounts.identity``)."""
    runtime = runtime_of(request)
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, secret = authorization.partition(" ")
        caller = None
        if scheme.lower() == "bearer":
            caller = await caller_for_token(runtime.session_factory, runtime.cache, secret.strip())
        if caller is None:
            # A script with a bad token must hear so, not be treated as a new visitor.
            raise Unauthorized(
                "The API token is unknown or revoked; create one on the account page.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return caller
    cookie = request.cookies.get(SESSION_COOKIE)
    user_id = runtime.signer.loads(cookie) if cookie else None
    if user_id is None:
        return None
    return await caller_for_user(runtime.session_factory, runtime.cache, user_id)


OptionalCaller = Annotated[Caller | None, Depends(optional_caller)]


async def current_caller(request: Request) -> Caller:
    # Not built on OptionalCaller: one dependency less on the hottest reads.
    caller = await optional_caller(request)
    if caller is None:
        raise Unauthorized(NO_SESSION)
    return caller


# For reads that need no more than who is asking: no database session on a cache hit.
CurrentCaller = Annotated[Caller, Depends(current_caller)]


async def optional_user(request: Request, session: DbSession) -> User | None:
    """The caller's row in the request's unit of work, for routes that change things."""
    caller = await optional_caller(request)
    return await session.get(User, caller.id) if caller is not None else None


OptionalUser = Annotated[User | None, Depends(optional_user)]


async def current_user(user: OptionalUser) -> User:
    if user is None:
        raise Unauthorized(NO_SESSION)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


Who = TypeVar("Who", User, Caller)


def require_role(user: Who, *roles: Role) -> Who:
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


def page_to_return_to(request: Request) -> str:
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
        raise SignInRequired(page_to_return_to(request))
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
    runtime = runtime_of(request)
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
    # address here (it trusts X-Forwarded-For from GRADEFLOW_TRUSTED_PROXIES only).
    return request.client.host if request.client else "unknown"


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")


async def receive_upload(
    request: Request, store: BlobStore, *, max_file_bytes: int
) -> ReceivedForm:
    """A multipart body, its file streamed into ``store``; ``receive_form`` bounds the
    body by the file's own limit, so the general one is lifted."""
    set_body_limit(request.scope, None)
    return await receive_form(
        request.stream(),
        content_type=request.headers.get("content-type", ""),
        content_length=request.headers.get("content-length"),
        store=store,
        max_file_bytes=max_file_bytes,
    )


async def read_limited_body(request: Request, *, limit: int) -> bytes:
    """The request body, refusing (413) once it passes ``limit`` bytes without reading on."""
    set_body_limit(request.scope, None)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
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
