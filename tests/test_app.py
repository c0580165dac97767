"""The app's error mapping: each failure gets its own status and error shape."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from gradeflow.db import create_engine
from gradeflow.errors import RETRY_AFTER_UNAVAILABLE_S, Unavailable


async def test_an_os_error_that_is_not_the_database_is_an_internal_error(app: FastAPI) -> None:
    @app.get("/api/test-broken-disk")
    async def broken_disk() -> None:
        raise PermissionError(13, "Permission denied", "/var/lib/gradeflow/blobs")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/api/test-broken-disk")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"


async def test_a_database_that_cannot_be_reached_is_unavailable() -> None:
    # Port 9 (discard) on loopback has no PostgreSQL behind it.
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/test")
    try:
        with pytest.raises(Unavailable) as raised:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert raised.value.status_code == 503
    assert raised.value.headers == {"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)}
    assert isinstance(raised.value.__cause__, OSError)
