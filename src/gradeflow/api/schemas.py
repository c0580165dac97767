"""Schema pieces the JSON routes share: the error shape and the date-time format.

``app.py`` turns each ``GradeflowError`` (and FastAPI's own errors) into an
``ErrorBody``; routes list the statuses they can return with ``errors()``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

# Times are sent as ISO 8601 text, exactly as ``datetime.isoformat()`` writes them.
DateTimeText = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable machine-readable name, e.g. `not_found`.")
    message: str = Field(description="What went wrong and what to do, for people.")
    details: Any = Field(default=None, description="Structured context, where there is any.")


class ErrorBody(BaseModel):
    error: ErrorDetail


DESCRIPTIONS = {
    401: "No session or token: create an anonymous session or sign in",
    403: "The caller's role may not do this",
    404: "No such resource, or not the caller's",
    409: "Conflicts with the current state",
    413: "The request body is too large",
    415: "The content type is not supported",
    422: "The request is not valid",
    429: "Too many attempts: wait the seconds in `Retry-After`",
    503: "A service gradeflow depends on is unavailable; try again shortly",
}


# The statuses that tell the client when to try again.
RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can return."""
    return {status: _error_response(status) for status in statuses}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"model": ErrorBody, "description": DESCRIPTIONS[status]}
    if status in (429, 503):
        response["headers"] = RETRY_AFTER_HEADER
    return response


# Every route that reads the database can meet invalid input and a database outage.
COMMON_ERRORS = errors(422, 503)
