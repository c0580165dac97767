"""Creating, claiming and authenticating users, against the real database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts import service
from gradeflow.accounts.models import Role, User
from gradeflow.db import transaction
from gradeflow.errors import Conflict, Invalid, Unauthorized

PASSWORD = "correct horse battery"


async def count_users(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return await session.scalar(select(func.count()).select_from(User)) or 0


async def test_create_user_normalises_the_email_and_stores_only_a_hash(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(session_factory) as session:
        user = await service.create_user(
            session, email="  Ada@Example.ORG ", password=PASSWORD, role=Role.teacher
        )
    assert user.email == "ada@example.org"
    assert user.role is Role.teacher
    assert user.password_hash is not None
    assert PASSWORD not in user.password_hash


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        ("not-an-email", PASSWORD, "email"),
        ("two@@example.org", PASSWORD, "email"),
        ("ada@example.org", "short", "password"),
    ],
)
async def test_create_user_rejects_bad_credentials_and_stores_nothing(
    session_factory: async_sessionmaker[AsyncSession], email: str, password: str, field: str
) -> None:
    with pytest.raises(Invalid) as raised:
        async with transaction(session_factory) as session:
            await service.create_user(session, email=email, password=password)
    assert raised.value.details == {"field": field}
    assert await count_users(session_factory) == 0


async def test_an_email_is_taken_once_whatever_its_case(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(session_factory) as session:
        await service.create_user(session, email="ada@example.org", password=PASSWORD)
    with pytest.raises(Conflict):
        async with transaction(session_factory) as session:
            await service.create_user(session, email="ADA@example.org", password=PASSWORD)
    assert await count_users(session_factory) == 1


async def test_registering_claims_the_anonymous_identity_in_use(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(session_factory) as session:
        anonymous = await service.create_anonymous_user(session)
    async with transaction(session_factory) as session:
        current = await session.get(User, anonymous.id)
        user = await service.register(
            session, email="grace@example.org", password=PASSWORD, current=current
        )
    assert user.id == anonymous.id
    assert not user.is_anonymous
    assert await count_users(session_factory) == 1


async def test_registering_while_signed_in_creates_a_separate_student(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(session_factory) as session:
        teacher = await service.create_user(
            session, email="t@example.org", password=PASSWORD, role=Role.teacher
        )
    async with transaction(session_factory) as session:
        current = await session.get(User, teacher.id)
        user = await service.register(
            session, email="s@example.org", password=PASSWORD, current=current
        )
    assert user.id != teacher.id
    assert user.role is Role.student
    async with session_factory() as session:
        kept = await session.get(User, teacher.id)
        assert kept is not None
        assert kept.email == "t@example.org"


async def test_a_failed_claim_leaves_the_anonymous_identity_anonymous(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(session_factory) as session:
        await service.create_user(session, email="ada@example.org", password=PASSWORD)
        anonymous = await service.create_anonymous_user(session)
    async with session_factory() as session:
        current = await session.get(User, anonymous.id)
        with pytest.raises(Conflict):
            await service.register(
                session, email="ada@example.org", password=PASSWORD, current=current
            )
        await session.rollback()
    async with session_factory() as session:
        kept = await session.get(User, anonymous.id)
        assert kept is not None
        assert kept.is_anonymous
        assert kept.password_hash is None


async def test_authenticate_accepts_the_password_and_nothing_else(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(session_factory) as session:
        created = await service.create_user(session, email="ada@example.org", password=PASSWORD)
        anonymous = await service.create_anonymous_user(session)
    async with session_factory() as session:
        user = await service.authenticate(session, email=" ADA@example.org", password=PASSWORD)
        assert user.id == created.id
        for email, password in [
            ("ada@example.org", PASSWORD + "!"),
            ("nobody@example.org", PASSWORD),
            ("", ""),
        ]:
            with pytest.raises(Unauthorized):
                await service.authenticate(session, email=email, password=password)
    assert anonymous.password_hash is None  # an identity without a password never signs in
