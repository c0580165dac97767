"""Callers that miss the cache are read in groups, each still exactly theirs."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.identity import CallerLoader, caller_for_user
from gradeflow.accounts.models import User
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.db import transaction
from gradeflow.infra.cache import Cache

Factory = async_sessionmaker[AsyncSession]


async def test_misses_that_arrive_together_are_read_in_one_query(
    session_factory: Factory,
) -> None:
    async with transaction(session_factory) as session:
        ids = [(await create_anonymous_user(session)).id for _ in range(20)]
    loader = CallerLoader(session_factory)
    groups: list[int] = []
    loader.on_group = groups.append
    cache = Cache(ttl_s=60)
    callers = await asyncio.gather(*(caller_for_user(loader, cache, i) for i in [*ids, ids[0]]))
    assert groups == [20]  # twenty students, one of them asking twice: one read
    assert [c.id if c else None for c in callers] == [*ids, ids[0]]
    again = await caller_for_user(loader, cache, ids[3])
    assert again is not None
    assert groups == [20]  # from the cache now


async def test_a_user_who_is_gone_is_nobody_and_does_not_hide_the_others(
    session_factory: Factory,
) -> None:
    async with transaction(session_factory) as session:
        kept = await create_anonymous_user(session)
        gone = await create_anonymous_user(session)
    async with transaction(session_factory) as session:
        await session.delete(await session.get(User, gone.id))
    loader = CallerLoader(session_factory)
    cache = Cache(ttl_s=60)
    found, missing = await asyncio.gather(
        caller_for_user(loader, cache, kept.id), caller_for_user(loader, cache, gone.id)
    )
    assert found is not None
    assert found.id == kept.id
    assert missing is None
