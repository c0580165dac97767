"""Sign-in throttling: failed attempts counted per account and per client address.

The failures live in the database, so every web process (and host) counts the
same ones and a restart forgets nothing; only failures are written, so a correct
sign-in costs one indexed count per key.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import SignInFailure
from gradeflow.db import utcnow
from gradeflow.errors import TooManyRequests
from gradeflow.settings import Settings


@dataclass(frozen=True)
class SignInLimits:
    window_s: int
    per_account: int
    per_address: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInLimits:
        return cls(
            window_s=settings.sign_in_window_s,
            per_account=settings.sign_in_failures_per_account,
            per_address=settings.sign_in_failures_per_address,
        )


async def check_allowed(
    session: AsyncSession, *, account: str, address: str, limits: SignInLimits
) -> None:
    """Refuse (429, with when to retry) once either key has used up its failures."""
    now = utcnow()
    since = now - dt.timedelta(seconds=limits.window_s)
    for column, key, limit in (
        (SignInFailure.account, account, limits.per_account),
        (SignInFailure.address, address, limits.per_address),
    ):
        recent = (column == key) & (SignInFailure.at > since)
        count = await session.scalar(select(func.count()).where(recent)) or 0
        if count >= limit:
            retry_after = await _seconds_until_allowed(session, recent, count - limit, limits, now)
            raise TooManyRequests(
                f"Too many failed sign-ins; try again in {retry_after} seconds.",
                retry_after_s=retry_after,
            )


async def _seconds_until_allowed(
    session: AsyncSession,
    recent: ColumnElement[bool],
    excess: int,
    limits: SignInLimits,
    now: dt.datetime,
) -> int:
    # Allowed again once enough of the oldest failures have left the window.
    leaving = await session.scalar(
        select(SignInFailure.at).where(recent).order_by(SignInFailure.at).offset(excess).limit(1)
    )
    if leaving is None:
        return 1
    remaining = (leaving + dt.timedelta(seconds=limits.window_s) - now).total_seconds()
    return max(1, math.ceil(remaining))


async def record_failure(
    session: AsyncSession, *, account: str, address: str, limits: SignInLimits
) -> None:
    # Failures that have left the window are removed for these keys as new ones come.
    expired = utcnow() - dt.timedelta(seconds=limits.window_s)
    await session.execute(
        delete(SignInFailure).where(
            or_(SignInFailure.account == account, SignInFailure.address == address),
            SignInFailure.at <= expired,
        )
    )
    session.add(SignInFailure(account=account, address=address))
    await session.flush()


async def forget_account_failures(session: AsyncSession, *, account: str) -> None:
    """After a correct password the account starts afresh (the address does not)."""
    await session.execute(delete(SignInFailure).where(SignInFailure.account == account))
