"""A request that finds every pooled database connection in use for the pool's
timeout is answered with the documented 503 and Retry-After, not a 500.

Found with 200 Locust students (PERFORMANCE.md): `/api/practice` waited past the
pool timeout and answered 500 "Something went wrong on our side".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gradeflow.app import create_app
from gradeflow.settings import Settings
from tests.conftest import import_course_dir


@pytest.fixture
async def busy_client(settings: Settings, course_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    if settings.database_url.startswith("sqlite"):
        pytest.skip("the pool size settings apply to PostgreSQL")
    await import_course_dir(settings, course_dir)
    small = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0})
    application = create_app(small)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        # The pool's one connection is held for the whole request below.
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
            application.state.runtime.engine.connect(),
        ):
            yield http


async def test_a_request_that_finds_no_free_connection_is_answered_503(
    busy_client: httpx.AsyncClient,
) -> None:
    response = await busy_client.post("/api/session")  # needs a connection: waits 5 s
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"]
    assert response.json()["error"]["code"] == "unavailable"
