"""API tokens: only a hash is kept, and revoked or foreign tokens do nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts import tokens
from gradeflow.accounts.models import ApiToken, Role, User
from gradeflow.db import transaction
from gradeflow.errors import Invalid, NotFound
from tests.factories import create_account


async def test_the_secret_is_not_stored_and_finds_its_owner(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    user_id = await create_account(session_factory, "t@example.org", role=Role.teacher)
    async with transaction(session_factory) as session:
        owner = await session.get_one(User, user_id)
        token, secret = await tokens.create_token(session, user=owner, name=" ci ")
    assert token.name == "ci"
    async with transaction(session_factory) as session:
        stored = await session.scalar(select(ApiToken))
        assert stored is not None
        assert secret not in (stored.token_hash, stored.prefix)
        assert stored.last_used_at is None
        assert await tokens.owner_of_token(session, secret) == user_id
    async with session_factory() as session:
        used = await session.scalar(select(ApiToken))
        assert used is not None
        assert used.last_used_at is not None
        assert await tokens.owner_of_token(session, secret + "x") is None
        assert await tokens.owner_of_token(session, "not-ours") is None


async def test_a_revoked_token_no_longer_signs_in_and_only_its_owner_revokes(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    owner_id = await create_account(session_factory, "t@example.org", role=Role.teacher)
    other_id = await create_account(session_factory, "u@example.org", role=Role.teacher)
    async with transaction(session_factory) as session:
        owner = await session.get_one(User, owner_id)
        token, secret = await tokens.create_token(session, user=owner, name="ci")
    with pytest.raises(NotFound):
        async with transaction(session_factory) as session:
            await tokens.revoke_token(session, user_id=other_id, token_id=token.id)
    async with transaction(session_factory) as session:
        await tokens.revoke_token(session, user_id=owner_id, token_id=token.id)
    async with session_factory() as session:
        assert await tokens.owner_of_token(session, secret) is None
        assert await tokens.list_tokens(session, user_id=owner_id) == []


async def test_a_token_needs_a_name(session_factory: async_sessionmaker[AsyncSession]) -> None:
    user_id = await create_account(session_factory, "t@example.org", role=Role.teacher)
    async with session_factory() as session:
        owner = await session.get_one(User, user_id)
        with pytest.raises(Invalid):
            await tokens.create_token(session, user=owner, name="   ")
