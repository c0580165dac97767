"""Personal reads answered from the cache: one caller's JSON response body, kept.

The routes that use this take only the caller as a dependency (``deps.runtime_of``
gives the rest): on a hit, a request is two dictionary lookups and the response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.db import transaction
from gradeflow.deps import runtime_of
from gradeflow.infra.cache import cached_as_is
from gradeflow.runtime import Runtime

Build = Callable[[AsyncSession, Runtime], Awaitable[BaseModel]]


async def cached_answer(
    request: Request, namespaces: tuple[str, ...], key: str, build: Build
) -> Response:
    """The body cached under ``key`` in ``namespaces``, or ``build``'s answer (in a
    unit of work of its own), kept for next time."""
    runtime = runtime_of(request)

    async def load() -> bytes:
        async with transaction(runtime.session_factory) as session:
            answer = await build(session, runtime)
        # Already a validated model: serialised directly, FastAPI's second validation
        # and encoding of the same model would cost a tenth of a hot read.
        return answer.model_dump_json().encode()

    body = await cached_as_is(runtime.cache, namespaces, key, load)
    return Response(body, media_type="application/json")
