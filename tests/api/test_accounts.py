"""Accounts over HTTP: sign-in throttling, API tokens and admin-created users."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role
from tests.conftest import new_student
from tests.factories import PASSWORD, create_account


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def test_wrong_passwords_are_throttled_per_account_with_retry_after(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "ada@example.org")
    # The default allows five failures per account in the window.
    for _ in range(5):
        assert (await sign_in(client, "ada@example.org", "wrong password")).status_code == 401
    refused = await sign_in(client, "ADA@example.org")  # even the right password, any case
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_requests"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 900
    assert refused.json()["error"]["details"] == {"retry_after_s": retry_after}

    # Another account from the same address is not locked out by Ada's failures.
    await create_account(session_factory, "grace@example.org")
    assert (await sign_in(client, "grace@example.org")).status_code == 200


async def test_a_correct_sign_in_clears_the_accounts_failures(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "ada@example.org")
    for _ in range(4):
        assert (await sign_in(client, "ada@example.org", "wrong password")).status_code == 401
    assert (await sign_in(client, "ada@example.org")).status_code == 200
    for _ in range(4):
        assert (await sign_in(client, "ada@example.org", "wrong password")).status_code == 401
    assert (await sign_in(client, "ada@example.org")).status_code == 200


async def test_one_address_guessing_many_accounts_is_throttled(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    # Twenty failures per address: four tries at each of five accounts.
    for attempt in range(20):
        response = await sign_in(client, f"user{attempt % 5}@example.org", "guess")
        assert response.status_code == 401
    assert (await sign_in(client, "someone-else@example.org", "guess")).status_code == 429


async def test_a_teacher_creates_uses_and_revokes_an_api_token(
    app: object, client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "t@example.org", role=Role.teacher)
    assert (await sign_in(client, "t@example.org")).status_code == 200
    created = await client.post("/api/tokens", json={"name": "grade scripts"})
    assert created.status_code == 201, created.text
    secret = created.json()["token"]
    assert secret.startswith("gf_")
    assert secret.startswith(created.json()["prefix"])
    listed = (await client.get("/api/tokens")).json()["items"]
    assert [item["name"] for item in listed] == ["grade scripts"]
    assert "token" not in listed[0]

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as script:
        bearer = {"Authorization": f"Bearer {secret}"}
        me = await script.get("/api/me", headers=bearer)
        assert me.status_code == 200
        assert me.json()["email"] == "t@example.org"
        assert "set-cookie" not in me.headers  # a token is not a session

        revoked = await client.delete(f"/api/tokens/{created.json()['id']}")
        assert revoked.status_code == 204
        after = await script.get("/api/me", headers=bearer)
        assert after.status_code == 401
        assert after.headers["WWW-Authenticate"] == "Bearer"
        assert (await client.get("/api/tokens")).json()["items"] == []
        assert (await client.delete(f"/api/tokens/{created.json()['id']}")).status_code == 404


async def test_a_bad_bearer_token_is_refused_not_treated_as_a_visitor(
    client: httpx.AsyncClient,
) -> None:
    for header in ["Bearer gf_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "gf_x"]:
        response = await client.post("/api/session", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert "set-cookie" not in response.headers


async def test_students_have_no_tokens_and_nobody_revokes_anothers(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession], app: object
) -> None:
    await create_account(session_factory, "t1@example.org", role=Role.teacher)
    await create_account(session_factory, "t2@example.org", role=Role.teacher)
    await sign_in(client, "t1@example.org")
    token_id = (await client.post("/api/tokens", json={"name": "mine"})).json()["id"]

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await sign_in(other, "t2@example.org")
        assert (await other.delete(f"/api/tokens/{token_id}")).status_code == 404
        await other.post("/api/auth/logout")
        await new_student(other)
        assert (await other.post("/api/tokens", json={"name": "x"})).status_code == 403
        assert (await other.get("/api/tokens")).status_code == 403
    assert len((await client.get("/api/tokens")).json()["items"]) == 1


async def test_an_admin_creates_a_student_with_name_and_student_number(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "admin@example.org", role=Role.admin)
    await sign_in(client, "admin@example.org")
    body = {
        "email": "s@example.org",
        "password": PASSWORD,
        "role": "student",
        "name": "Sam Student",
        "student_number": "S-1001",
    }
    created = await client.post("/api/users", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["student_number"] == "S-1001"
    assert created.json()["name"] == "Sam Student"
    again = await client.post("/api/users", json=body | {"email": "other@example.org"})
    assert again.status_code == 409
    bad = await client.post(
        "/api/users", json=body | {"email": "x@example.org", "student_number": "has space"}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"] == {"field": "student_number"}
