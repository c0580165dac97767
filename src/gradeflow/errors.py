"""The errors services raise; ``app.py`` maps each one to an HTTP status once.

Each class's docstring is its default message.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GradeflowError(Exception):
    """Something went wrong."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class Invalid(GradeflowError):
    """The request is not valid."""

    status_code = 422
    code = "invalid"


class Unauthorized(GradeflowError):
    """Sign in first."""

    status_code = 401
    code = "unauthorized"


class Forbidden(GradeflowError):
    """You are not allowed to do that."""

    status_code = 403
    code = "forbidden"


class NotFound(GradeflowError):
    """Not found."""

    status_code = 404
    code = "not_found"


class Conflict(GradeflowError):
    """That conflicts with the current state."""

    status_code = 409
    code = "conflict"


class TooLarge(GradeflowError):
    """The request is too large."""

    status_code = 413
    code = "too_large"


class UnsupportedMediaType(GradeflowError):
    """That content type is not supported."""

    status_code = 415
    code = "unsupported_media_type"


class TooManyRequests(GradeflowError):
    """Too many attempts; wait and try again."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str | None = None, *, retry_after_s: int) -> None:
        super().__init__(
            message,
            details={"retry_after_s": retry_after_s},
            headers={"Retry-After": str(retry_after_s)},
        )


# How long a client should wait before retrying a 503: about as long as a restarted
# service or web process takes to answer again. nginx's own 503 says the same
# (``gradeflow.stack``).
RETRY_AFTER_UNAVAILABLE_S = 5


class Unavailable(GradeflowError):
    """A service gradeflow depends on is unavailable; try again shortly."""

    status_code = 503
    code = "unavailable"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        retry = {"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)}
        super().__init__(message, details=details, headers=retry | (headers or {}))
