"""The ASGI application: routers, error mapping and the runtime's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from gradeflow.api import accounts, assignments, submissions
from gradeflow.errors import GradeflowError
from gradeflow.runtime import open_runtime
from gradeflow.settings import Settings, get_settings
from gradeflow.web import pages

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


def error_response(
    request: Request, status: int, code: str, message: str, details: Any = None
) -> Response:
    if _wants_json(request):
        body = {"error": {"code": code, "message": message, "details": details}}
        return JSONResponse(body, status_code=status)
    return pages.error_page(request, status=status, message=message)


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

    @app.exception_handler(GradeflowError)
    async def gradeflow_error(request: Request, exc: GradeflowError) -> Response:
        return error_response(request, exc.status_code, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {"location": list(err.get("loc", ())), "message": err.get("msg", "")}
            for err in exc.errors()
        ]
        first = details[0] if details else {"location": [], "message": "invalid"}
        where = ".".join(str(part) for part in first["location"][1:]) or "request"
        message = f"{where}: {first['message']}"
        return error_response(request, 422, "invalid", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(exc.status_code, "error")
        return error_response(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("request.failed", path=request.url.path)
        return error_response(request, 500, "internal_error", "Something went wrong on our side.")

    @app.get("/healthz", tags=["operations"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: the database answers")
    async def readyz(request: Request) -> Response:
        runtime = request.app.state.runtime
        try:
            async with runtime.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("readyz.database_down", error=str(exc))
            return error_response(request, 503, "unavailable", "The database is not reachable.")
        return JSONResponse({"status": "ok", "checks": {"database": "ok"}})

    app.include_router(accounts.router)
    app.include_router(assignments.router)
    app.include_router(submissions.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
