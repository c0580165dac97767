"""API tokens: Bearer credentials a teacher creates for scripts and the CLI.

A token is shown once, when it is created; the database keeps its SHA-256 (the
secret is 256 random bits, so a fast hash is enough) and a short prefix by which
its owner tells tokens apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import ApiToken, User
from gradeflow.db import utcnow
from gradeflow.errors import Invalid, NotFound

TOKEN_PREFIX = "gf_"  # noqa: S105 - a marker that makes tokens easy to spot, not a secret
MAX_TOKENS_PER_USER = 50
# last_used_at is a hint for the owner, not an audit log: write it at most this often.
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_token(session: AsyncSession, *, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token and its secret, which is not stored and cannot be shown again."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise Invalid("A token needs a name of 1 to 100 characters.", details={"field": "name"})
    if len(await list_tokens(session, user_id=user.id)) >= MAX_TOKENS_PER_USER:
        raise Invalid(f"At most {MAX_TOKENS_PER_USER} tokens; revoke one you no longer use.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(secret), prefix=secret[:10])
    session.add(token)
    await session.flush()
    return token, secret


async def list_tokens(session: AsyncSession, *, user_id: int) -> list[ApiToken]:
    """The user's tokens that still work, newest first."""
    rows = await session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.id.desc())
    )
    return list(rows)


async def revoke_token(session: AsyncSession, *, user_id: int, token_id: int) -> None:
    token = await session.get(ApiToken, token_id)
    if token is None or token.user_id != user_id or token.revoked_at is not None:
        raise NotFound("No such token.")
    token.revoked_at = utcnow()
    await session.flush()


async def owner_of_token(session: AsyncSession, secret: str) -> int | None:
    """The user id of a live token's owner, or None for an unknown or revoked one."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None)
        )
    )
    if token is None:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token.user_id
