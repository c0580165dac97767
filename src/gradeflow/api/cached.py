"""Personal reads answered from the cache: one caller's JSON response body, kept.

Each cached read is declared once here (``CachedRead``): its route, the namespaces
its answers live under and the key of one answer. The route builds and stores an
answer on a miss (``cached_answer``); ``CachedReads``, an ASGI layer in front of the
app, answers a hit before FastAPI's routing and dependency solving, which cost more
than twice the hit itself (PERFORMANCE.md, "Cached reads before routing"). Anything
the layer is not sure of (an unknown caller, a query it does not read exactly as the
route would, a miss) goes on to the app unchanged, so errors, first visits and
authorisation stay the route's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from gradeflow.accounts.identity import (
    IDENTITIES_NAMESPACE,
    Caller,
    identity_namespace,
    token_namespace,
    user_namespace,
)
from gradeflow.accounts.security import SESSION_COOKIE
from gradeflow.accounts.tokens import hash_token
from gradeflow.courses.members import MEMBERSHIPS_NAMESPACE
from gradeflow.courses.reads import ASSIGNMENTS_NAMESPACE
from gradeflow.db import MAX_ID, transaction
from gradeflow.deps import runtime_of
from gradeflow.grades.gradebook import OWN_GRADES_NAMESPACE
from gradeflow.infra.cache import cached_as_is
from gradeflow.runtime import Runtime

Build = Callable[[AsyncSession, Runtime], Awaitable[BaseModel]]
Params = dict[str, int | None]
JSON_TYPE = b"application/json"


@dataclass(frozen=True)
class IntParam:
    """An integer query parameter as the route declares it (``Query(ge=low, le=high)``)."""

    name: str
    high: int
    default: int | None = None


@dataclass(frozen=True)
class CachedRead:
    """One cached GET route: ``route`` is its template as the metrics name it, ``key`` a
    format string over its path and query parameters."""

    route: str
    shared: tuple[str, ...]
    key: str
    query: tuple[IntParam, ...] = ()
    # The route refuses anonymous callers before reading (403), so the layer leaves them to it.
    accounts_only: bool = False

    def namespaces(self, user_id: int) -> tuple[str, ...]:
        return (user_namespace(user_id), *self.shared)

    def key_of(self, **params: int | None) -> str:
        return self.key.format(**params)


PRACTICE_SHARED = (ASSIGNMENTS_NAMESPACE, MEMBERSHIPS_NAMESPACE)
COURSE = IntParam("course", MAX_ID)
ME = CachedRead("/api/me", (IDENTITIES_NAMESPACE,), "me")
OWN_GRADES = CachedRead(
    "/api/me/grades", (*PRACTICE_SHARED, OWN_GRADES_NAMESPACE), "own-grades", accounts_only=True
)
PRACTICE = CachedRead(
    "/api/practice",
    PRACTICE_SHARED,
    "practice:{assignment}:{course}",
    (IntParam("assignment", MAX_ID), COURSE),
)
ASSIGNMENT_LIST = CachedRead("/api/assignments", PRACTICE_SHARED, "assignments:{course}", (COURSE,))
NEXT_ASSIGNMENT = CachedRead("/api/assignments/next", PRACTICE_SHARED, "next:{course}", (COURSE,))
ASSIGNMENT = CachedRead(
    "/api/assignments/{assignment_id}", PRACTICE_SHARED, "assignment:{assignment_id}"
)
# The caller's namespace is purged whenever one of their submissions changes.
SUBMISSION_LIST = CachedRead(
    "/api/submissions",
    (),
    "submissions:{assignment_id}:{limit}",
    (IntParam("assignment_id", MAX_ID), IntParam("limit", 500, 100)),
)
SUBMISSION = CachedRead("/api/submissions/{submission_id}", (), "submission:{submission_id}")

# Literal paths, and the reads whose path ends in an id (``prefix`` + the id).
BY_PATH = {
    read.route: read
    for read in (ME, OWN_GRADES, PRACTICE, ASSIGNMENT_LIST, NEXT_ASSIGNMENT, SUBMISSION_LIST)
}
BY_PREFIX = (("/api/assignments/", ASSIGNMENT), ("/api/submissions/", SUBMISSION))


async def cached_answer(
    request: Request, read: CachedRead, user_id: int, build: Build, **params: int | None
) -> Response:
    """The body of ``read`` cached for ``user_id`` under ``params``, or ``build``'s
    answer (in a unit of work of its own), kept for next time."""
    runtime = runtime_of(request)

    async def load() -> bytes:
        async with transaction(runtime.session_factory) as session:
            answer = await build(session, runtime)
        # Already a validated model: serialised directly, FastAPI's second validation
        # and encoding of the same model would cost a tenth of a hot read.
        return answer.model_dump_json().encode()

    body = await cached_as_is(runtime.cache, read.namespaces(user_id), read.key_of(**params), load)
    return Response(body, media_type="application/json")


def _int_of(text: str, high: int) -> int | None:
    """``text`` as the route's bounded int, when written the one plain way (``7``, not
    ``07`` or ``+7``): other spellings go to the app, which parses them itself."""
    if not text.isascii() or not text.isdigit() or text.startswith("0") or len(text) > 19:
        return None
    value = int(text)
    return value if value <= high else None


def _query_params(read: CachedRead, query: bytes) -> Params | None:
    """The query as the route reads it, or None when the layer should not answer it."""
    params: Params = {param.name: param.default for param in read.query}
    if not query:
        return params
    seen: set[str] = set()
    for pair in query.decode("latin-1").split("&"):
        name, equals, text = pair.partition("=")
        param = next((p for p in read.query if p.name == name), None)
        if param is None or not equals or name in seen:
            return None
        seen.add(name)
        value = _int_of(text, param.high)
        if value is None:
            return None
        params[name] = value
    return params


def _read_of(path: str, query: bytes) -> tuple[CachedRead, Params] | None:
    read = BY_PATH.get(path)
    if read is not None:
        params = _query_params(read, query)
        return None if params is None else (read, params)
    if query:
        return None
    for prefix, read in BY_PREFIX:
        if path.startswith(prefix):
            name = read.key[read.key.index("{") + 1 : read.key.index("}")]
            value = _int_of(path[len(prefix) :], MAX_ID)
            return None if value is None else (read, {name: value})
    return None


def _known_caller(
    runtime: Runtime, authorization: bytes | None, cookie: bytes | None
) -> Caller | None:
    """The caller as ``deps.optional_caller`` finds them, from this process's cache only."""
    cache = runtime.cache
    if authorization is not None:
        scheme, _, secret = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return None
        namespaces = (token_namespace(hash_token(secret.strip())), IDENTITIES_NAMESPACE)
        owner: int | None = cache.get(namespaces, "owner")
        user_id = owner
    elif cookie is not None:
        session = cookie_parser(cookie.decode("latin-1")).get(SESSION_COOKIE)
        user_id = runtime.signer.loads(session) if session else None
    else:
        return None
    if user_id is None:
        return None
    caller: Caller | None = cache.get((identity_namespace(user_id), IDENTITIES_NAMESPACE), "caller")
    return caller


class CachedReads:
    """Answers a cached read's hit before the app: the same status, headers and body
    the route sends (``x-request-id`` as ``RequestContextMiddleware`` adds it, and the
    request's latency in the same metric)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        hit = self._hit(scope)
        if hit is None:
            await self.app(scope, receive, send)
            return
        read, body, request_id = hit
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", JSON_TYPE),
                    (b"x-request-id", request_id),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        runtime: Runtime = scope["app"].state.runtime
        runtime.metrics.request_seconds.labels("GET", read.route, "200").observe(
            time.perf_counter() - started
        )

    def _hit(self, scope: Scope) -> tuple[CachedRead, bytes, bytes] | None:
        found = _read_of(scope["path"], scope["query_string"])
        if found is None:
            return None
        read, params = found
        runtime: Runtime | None = getattr(scope["app"].state, "runtime", None)
        if runtime is None:
            return None
        authorization = cookie = None
        request_id = b""
        for name, value in scope["headers"]:
            # The first of each as Starlette's ``Headers.get`` takes it; the request id
            # the last, as the context middleware's ``dict`` of the headers does.
            if name == b"authorization" and authorization is None:
                authorization = value
            elif name == b"cookie" and cookie is None:
                cookie = value
            elif name == b"x-request-id":
                request_id = value
        caller = _known_caller(runtime, authorization, cookie)
        if caller is None or (read.accounts_only and caller.is_anonymous):
            return None
        body: bytes | None = runtime.cache.get(read.namespaces(caller.id), read.key_of(**params))
        if body is None:
            return None
        # Cut and re-encoded exactly as the context middleware does.
        request_id = (request_id.decode("latin-1")[:64] or uuid.uuid4().hex).encode()
        return read, body, request_id
