"""The sign-in throttle's window and its retry hint."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts import throttle
from gradeflow.accounts.models import SignInFailure
from gradeflow.accounts.throttle import SignInLimits
from gradeflow.db import transaction, utcnow
from gradeflow.errors import TooManyRequests

LIMITS = SignInLimits(window_s=900, per_account=5, per_address=20)


async def add_failures(
    factory: async_sessionmaker[AsyncSession], *, ages_s: list[int], account: str = "a@x.org"
) -> None:
    async with transaction(factory) as session:
        for age in ages_s:
            at = utcnow() - dt.timedelta(seconds=age)
            session.add(SignInFailure(account=account, address="192.0.2.1", at=at))


async def test_failures_older_than_the_window_do_not_count(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await add_failures(session_factory, ages_s=[1000, 990, 980, 970, 960, 10])
    async with session_factory() as session:
        await throttle.check_allowed(session, account="a@x.org", address="192.0.2.1", limits=LIMITS)


async def test_the_retry_hint_is_when_the_oldest_counted_failure_leaves_the_window(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await add_failures(session_factory, ages_s=[600, 500, 400, 300, 200])
    async with session_factory() as session:
        with pytest.raises(TooManyRequests) as raised:
            await throttle.check_allowed(
                session, account="a@x.org", address="192.0.2.99", limits=LIMITS
            )
    retry_after = raised.value.details["retry_after_s"]
    assert 295 <= retry_after <= 301  # 900 - 600, give or take the test's own time
    assert raised.value.headers == {"Retry-After": str(retry_after)}


async def test_recording_a_failure_removes_that_keys_expired_ones(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await add_failures(session_factory, ages_s=[5000, 4000])
    await add_failures(session_factory, ages_s=[5000], account="other@x.org")
    async with transaction(session_factory) as session:
        await throttle.record_failure(
            session, account="a@x.org", address="198.51.100.7", limits=LIMITS
        )
    async with session_factory() as session:
        accounts = await session.scalars(select(SignInFailure.account).order_by(SignInFailure.id))
        # other@x.org shared the address 192.0.2.1, not the new failure's; it stays.
        assert list(accounts) == ["other@x.org", "a@x.org"]
        total = await session.scalar(select(func.count()).select_from(SignInFailure))
        assert total == 2
