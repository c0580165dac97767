"""The ASGI application: routers, error mapping and the runtime's lifespan."""

from __future__ import annotations

import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gradeflow.api import (
    accounts,
    assignments,
    authoring,
    courses,
    grade_uploads,
    grades,
    operations,
    practice,
    previews,
    stuck,
    submissions,
)
from gradeflow.api.cached import CachedReads
from gradeflow.api.schemas import DESCRIPTIONS
from gradeflow.body_limit import RequestBodyLimit
from gradeflow.db import database_unavailable
from gradeflow.deps import SignInRequired
from gradeflow.errors import GradeflowError, Unavailable
from gradeflow.runtime import open_runtime
from gradeflow.settings import Settings, get_settings
from gradeflow.web import accounts as account_pages
from gradeflow.web import authoring as authoring_pages
from gradeflow.web import courses as course_pages
from gradeflow.web import grade_uploads as upload_pages
from gradeflow.web import grades as grade_pages
from gradeflow.web import pages, regrades
from gradeflow.web import stuck as stuck_pages
from gradeflow.web.forms import safe_next

log = structlog.get_logger(__name__)
STATIC_DIR = Path(__file__).parent / "web" / "static"

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    503: "unavailable",
}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api") or "text/html" not in request.headers.get(
        "accept", ""
    )


async def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if _wants_json(request):
        body = {"error": {"code": code, "message": message, "details": details}}
        return JSONResponse(body, status_code=status, headers=headers)
    return await pages.error_page(request, status=status, message=message, headers=headers)


def endpoint_routes(routes: Iterable[BaseRoute]) -> Iterator[Route]:
    """Every route that answers requests itself, routers included by FastAPI opened up
    (mounts such as ``/static`` answer their own methods and are left out)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from endpoint_routes(included.routes)
        elif isinstance(route, Route):
            yield route


def allowed_methods(app: Starlette, path: str) -> list[str]:
    """The methods declared at ``path`` by all the routes whose template matches it.

    Starlette's own 405 names only the first such route's methods, where GET and
    POST of one path are two routes. Templates never overlap a literal segment
    (ids are ``{name:int}``), so every matching route really answers at ``path``.
    """
    cached: list[tuple[re.Pattern[str], set[str]]] | None = getattr(
        app.state, "route_methods", None
    )
    if cached is None:
        cached = [
            (route.path_regex, set(route.methods or ())) for route in endpoint_routes(app.routes)
        ]
        app.state.route_methods = cached
    methods: set[str] = set()
    for pattern, declared in cached:
        if pattern.match(path):
            methods |= declared
    return sorted(methods)


class RequestContextMiddleware:
    """A request id on every log line and response, and latency per route.

    Plain ASGI rather than BaseHTTPMiddleware, so long SSE streams pass untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                # The template as documented (`{id}`, not the `{id:int}` it matches by).
                route = getattr(scope.get("route"), "path_format", "unmatched")
                runtime = getattr(scope["app"].state, "runtime", None)
                if runtime is not None:
                    runtime.metrics.request_seconds.labels(
                        scope["method"], route, str(status)
                    ).observe(time.perf_counter() - started)


def add_error_handlers(app: FastAPI) -> None:
    """Each failure as its status and the one error shape (``api.schemas.ErrorBody``)."""

    @app.exception_handler(GradeflowError)
    async def gradeflow_error(request: Request, exc: GradeflowError) -> Response:
        return await error_response(
            request, exc.status_code, exc.code, exc.message, exc.details, exc.headers
        )

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        target = quote(safe_next(exc.next_path), safe="/")
        return RedirectResponse(f"/sign-in?next={target}", status_code=303)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {"location": list(err.get("loc", ())), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        first = details[0] if details else {"location": [], "message": "invalid"}
        where = ".".join(str(part) for part in first["location"][1:]) or "request"
        message = f"{where}: {first['message']}"
        return await error_response(request, 422, "invalid", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (JSON that is not UTF-8, a
            # broken multipart form): invalid input, which this API answers with 422.
            message = f"The request body could not be read: {exc.detail}."
            return await error_response(request, 422, "invalid", message)
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and (allow := allowed_methods(request.app, request.url.path)):
            headers["Allow"] = ", ".join(allow)
        code = HTTP_CODES.get(exc.status_code, "error")
        return await error_response(
            request, exc.status_code, code, str(exc.detail), headers=headers
        )

    @app.exception_handler(DBAPIError)
    async def database_down(request: Request, exc: Exception) -> Response:
        if not database_unavailable(exc):
            return await unexpected_error(request, exc)
        # The pool reconnects on its own (pre-ping) once the database is back.
        log.warning("request.database_unavailable", path=request.url.path, error=str(exc))
        unavailable = Unavailable("The database is unavailable; try again in a moment.")
        return await error_response(
            request, 503, unavailable.code, unavailable.message, headers=unavailable.headers
        )

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(request: Request, exc: Exception) -> Response:
        # Every pooled connection stayed in use for the pool's timeout: the process is
        # overloaded (PERFORMANCE.md, 200 Locust students), not broken. Was a 500.
        log.warning("request.database_busy", path=request.url.path, error=str(exc))
        busy = Unavailable("The server is busy; try again in a moment.")
        return await error_response(request, 503, busy.code, busy.message, headers=busy.headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("request.failed", path=request.url.path)
        return await error_response(
            request, 500, "internal_error", "Something went wrong on our side."
        )


def document_body_limit(openapi: dict[str, Any]) -> None:
    """413 among the responses of every operation that takes a body (``body_limit``)."""
    too_large = {
        "description": DESCRIPTIONS[413],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    for path_item in openapi["paths"].values():
        for operation in path_item.values():
            if "requestBody" in operation:
                operation["responses"].setdefault("413", too_large)


def create_app(settings: Settings | None = None, *, grading: bool = True) -> FastAPI:
    """Build the app; ``grading`` runs grader slots inside it (embedded mode)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, grading=grading) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="gradeflow",
        version="0.1.0",
        summary="Practise and grade Python programming assignments.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )

    add_error_handlers(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            assignments.document_submit_body(schema, max_code_bytes=settings.max_code_bytes)
            document_body_limit(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # Innermost of ours: what it refuses goes through the error handlers above.
    app.add_middleware(RequestBodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    # Outermost of ours: a cached read's hit is answered before routing (api/cached.py).
    app.add_middleware(CachedReads)
    # Routes are matched in this order, router by router: the students' hot reads
    # first (a router further down costs every request a scan of those above it).
    app.include_router(operations.router)
    app.include_router(practice.router)
    app.include_router(accounts.router)
    app.include_router(grades.router)
    app.include_router(assignments.router)
    app.include_router(submissions.router)
    app.include_router(courses.router)
    app.include_router(authoring.router)
    app.include_router(pages.router)
    app.include_router(account_pages.router)
    app.include_router(course_pages.router)
    app.include_router(authoring_pages.router)
    app.include_router(grade_pages.router)
    app.include_router(grade_uploads.router)
    app.include_router(upload_pages.router)
    app.include_router(previews.router)
    app.include_router(regrades.router)
    app.include_router(stuck.router)
    app.include_router(stuck_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


class AppServer(uvicorn.Server):
    """uvicorn's server for the app, which ends the app's event streams first when it
    shuts down.

    uvicorn waits for open responses (up to its graceful timeout) before the app's
    lifespan ends, and an event stream never ends by itself: a stop with a page open
    waited the whole timeout, then cancelled the stream and logged the cancellation as
    an error. Ended, a stream finishes as any response does; the page reconnects.
    """

    def __init__(self, config: uvicorn.Config, *, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        runtime = getattr(self.app.state, "runtime", None)
        if runtime is not None:
            runtime.end_streams()
        await super().shutdown(sockets)
