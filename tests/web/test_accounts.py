"""Account pages over HTTP: CSRF on every form, register keeps practice, tokens."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts import tokens
from gradeflow.accounts.models import ApiToken, Role, User
from gradeflow.db import transaction
from tests.conftest import wait_for_final
from tests.factories import ADDER_SOLUTION, PASSWORD, create_account

HTML = {"Accept": "text/html"}


async def form_token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path, headers=HTML)
    assert page.status_code == 200, page.text
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert match is not None, page.text
    return match[1]


async def post_form(
    client: httpx.AsyncClient, path: str, data: dict[str, str], *, token_from: str
) -> httpx.Response:
    token = await form_token(client, token_from)
    return await client.post(path, data=data | {"csrf_token": token}, headers=HTML)


async def test_a_form_without_this_browsers_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, app: object, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "ada@example.org")
    data = {"email": "ada@example.org", "password": PASSWORD}
    assert (await client.post("/sign-in", data=data, headers=HTML)).status_code == 403
    forged = await client.post("/sign-in", data=data | {"csrf_token": "0" * 64}, headers=HTML)
    assert forged.status_code == 403
    assert "reload the page" in forged.text

    # A token from another browser (another CSRF cookie) does not fit this one.
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        foreign = await form_token(other, "/sign-in")
    stolen = await client.post("/sign-in", data=data | {"csrf_token": foreign}, headers=HTML)
    assert stolen.status_code == 403
    assert "gradeflow_session" not in stolen.cookies

    registered = await client.post(
        "/register", data={"email": "eve@example.org", "password": PASSWORD}, headers=HTML
    )
    assert registered.status_code == 403
    async with session_factory() as session:
        emails = list(await session.scalars(select(User.email)))
    assert emails == ["ada@example.org"]


async def test_an_anonymous_student_registers_and_keeps_points(client: httpx.AsyncClient) -> None:
    await client.get("/api/practice")
    guest = (await client.get("/api/me")).json()
    first = (await client.get("/api/assignments/next")).json()
    accepted = await client.post(
        f"/api/assignments/{first['id']}/submissions", json={"code": ADDER_SOLUTION}
    )
    await wait_for_final(client, accepted.json()["id"])

    registered = await post_form(
        client,
        "/register",
        {"email": "sam@example.org", "password": PASSWORD},
        token_from="/register",
    )
    assert registered.status_code == 303
    assert registered.headers["location"] == "/account"
    me = (await client.get("/api/me")).json()
    assert me["id"] == guest["id"]
    assert me["email"] == "sam@example.org"
    assert me["points"] == 10
    account = await client.get("/account", headers=HTML)
    assert 'data-testid="account-email">sam@example.org<' in account.text
    assert "API tokens" not in account.text  # students have none


async def test_a_refused_registration_shows_why_and_keeps_the_email(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "taken@example.org")
    refused = await post_form(
        client,
        "/register",
        {"email": "taken@example.org", "password": PASSWORD},
        token_from="/register",
    )
    assert refused.status_code == 409
    assert "exists already" in refused.text
    assert 'value="taken@example.org"' in refused.text
    short = await post_form(
        client,
        "/register",
        {"email": "new@example.org", "password": "short"},
        token_from="/register",
    )
    assert short.status_code == 422
    assert "at least 8 characters" in short.text


async def test_sign_in_goes_to_next_only_on_this_site_and_sign_out_ends_it(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "ada@example.org")
    wrong = await post_form(
        client,
        "/sign-in",
        {"email": "ada@example.org", "password": "nope nope"},
        token_from="/sign-in",
    )
    assert wrong.status_code == 401
    assert "Wrong email or password" in wrong.text
    evil = await post_form(
        client,
        "/sign-in",
        {"email": "ada@example.org", "password": PASSWORD, "next": "//evil.example/"},
        token_from="/sign-in",
    )
    assert evil.status_code == 303
    assert evil.headers["location"] == "/account"
    good = await post_form(
        client,
        "/sign-in",
        {"email": "ada@example.org", "password": PASSWORD, "next": "/submissions"},
        token_from="/sign-in",
    )
    assert good.headers["location"] == "/submissions"
    assert (await client.get("/api/me")).json()["email"] == "ada@example.org"

    signed_out = await post_form(client, "/sign-out", {}, token_from="/account")
    assert signed_out.status_code == 303
    assert (await client.get("/api/me")).status_code == 401
    assert (await client.get("/account", headers=HTML)).headers["location"] == (
        "/sign-in?next=/account"
    )


async def test_the_sign_in_page_says_when_to_retry(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "ada@example.org")
    for _ in range(5):
        await post_form(
            client,
            "/sign-in",
            {"email": "ada@example.org", "password": "wrong one"},
            token_from="/sign-in",
        )
    throttled = await post_form(
        client,
        "/sign-in",
        {"email": "ada@example.org", "password": PASSWORD},
        token_from="/sign-in",
    )
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in throttled.text


async def test_a_teacher_creates_a_token_on_the_account_page_and_revokes_it(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "t@example.org", role=Role.teacher)
    await post_form(
        client, "/sign-in", {"email": "t@example.org", "password": PASSWORD}, token_from="/sign-in"
    )
    created = await post_form(
        client, "/account/tokens", {"name": "upload script"}, token_from="/account"
    )
    assert created.status_code == 201
    secret = re.search(r'data-testid="new-token">(gf_[^<]+)<', created.text)
    assert secret is not None
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {secret[1]}"})
    assert me.json()["email"] == "t@example.org"

    token_id = (await client.get("/api/tokens")).json()["items"][0]["id"]
    revoked = await post_form(
        client, f"/account/tokens/{token_id}/revoke", {}, token_from="/account"
    )
    assert revoked.status_code == 303
    refused = await client.get("/api/me", headers={"Authorization": f"Bearer {secret[1]}"})
    assert refused.status_code == 401
    page = await client.get("/account", headers=HTML)
    assert "No tokens yet." in page.text
    assert secret[1] not in page.text


async def token_names(factory: async_sessionmaker[AsyncSession]) -> list[str]:
    async with factory() as session:
        return list(await session.scalars(select(ApiToken.name).order_by(ApiToken.id)))


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("   ", 422, "A token needs a name of 1 to 100 characters."),
        ("x" * 101, 422, "A token needs a name of 1 to 100 characters."),
    ],
)
async def test_a_token_with_a_refused_name_shows_the_account_page_with_why(
    client: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    name: str,
    status: int,
    message: str,
) -> None:
    await create_account(session_factory, "t@example.org", role=Role.teacher)
    await post_form(
        client, "/sign-in", {"email": "t@example.org", "password": PASSWORD}, token_from="/sign-in"
    )
    refused = await post_form(client, "/account/tokens", {"name": name}, token_from="/account")
    assert refused.status_code == status, refused.text
    assert message in refused.text
    assert 'data-testid="account-email">t@example.org<' in refused.text
    assert "No tokens yet." in refused.text
    assert await token_names(session_factory) == []


async def test_a_token_past_the_cap_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    teacher_id = await create_account(session_factory, "t@example.org", role=Role.teacher)
    async with transaction(session_factory) as session:
        teacher = await session.get_one(User, teacher_id)
        for i in range(tokens.MAX_TOKENS_PER_USER):
            await tokens.create_token(session, user=teacher, name=f"script {i}")
    before = await token_names(session_factory)
    await post_form(
        client, "/sign-in", {"email": "t@example.org", "password": PASSWORD}, token_from="/sign-in"
    )
    refused = await post_form(
        client, "/account/tokens", {"name": "one more"}, token_from="/account"
    )
    assert refused.status_code == 422, refused.text
    assert f"At most {tokens.MAX_TOKENS_PER_USER} tokens" in refused.text
    assert "script 49" in refused.text  # the list is shown as it is
    assert await token_names(session_factory) == before


async def test_a_student_cannot_create_a_token_on_the_account_page(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "s@example.org")
    await post_form(
        client, "/sign-in", {"email": "s@example.org", "password": PASSWORD}, token_from="/sign-in"
    )
    refused = await post_form(client, "/account/tokens", {"name": "mine"}, token_from="/account")
    assert refused.status_code == 403, refused.text
    assert "Only a teacher or admin may do that." in refused.text
    assert 'data-testid="account-email">s@example.org<' in refused.text
    assert await token_names(session_factory) == []


async def test_a_guest_refused_registration_stays_a_guest(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "taken@example.org")
    await client.get("/api/practice")
    guest = (await client.get("/api/me")).json()
    refused = await post_form(
        client,
        "/register",
        {"email": "taken@example.org", "password": PASSWORD},
        token_from="/register",
    )
    assert refused.status_code == 409, refused.text
    assert "exists already" in refused.text
    assert f'Guest #<span id="user-id">{guest["id"]}<' in refused.text
    assert (await client.get("/api/me")).json() == guest
    async with session_factory() as session:
        registered = await session.scalar(
            select(func.count(User.id)).where(User.email.is_not(None))
        )
    assert registered == 1
