"""Who is calling: a session cookie or an API token, resolved to a ``Caller``.

Every request needs this, most of them only this and one cached read, so the
answer is cached in this process: a caller seen lately costs no database query.
A user's identity lives in a namespace of its own (``identity:42``), apart from
their personal reads (``user:42``, purged by each of their submission events, which
do not change who they are), and a token's owner in the token's (``token:<sha256>``);
writing the user or the token purges them (``gradeflow.purges``), so a revoked token
or a changed role is refused or seen at once, in every process.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.accounts.tokens import hash_token, owner_of_token
from gradeflow.db import single_read, transaction
from gradeflow.infra.cache import Cache, cached_as_is

# Purged by a set-based write to users or tokens, which does not say whose rows.
IDENTITIES_NAMESPACE = "identities"


def user_namespace(user_id: int) -> str:
    """The cache namespace of one user: identity and personal read models."""
    return f"user:{user_id}"


def identity_namespace(user_id: int) -> str:
    """The cache namespace of one user's identity (``Caller``): purged only by writes
    to the user."""
    return f"identity:{user_id}"


def token_namespace(token_hash: str) -> str:
    return f"token:{token_hash}"


@dataclass(frozen=True)
class Caller:
    """What a request needs to know about its user, without a database session."""

    id: int
    role: Role
    email: str | None
    name: str | None
    student_number: str | None

    @property
    def is_anonymous(self) -> bool:
        return self.email is None


def caller_of(user: User) -> Caller:
    return Caller(user.id, user.role, user.email, user.name, user.student_number)


def _caller_namespaces(user_id: int) -> tuple[str, ...]:
    return (identity_namespace(user_id), IDENTITIES_NAMESPACE)


async def caller_for_user(
    factory: async_sessionmaker[AsyncSession], cache: Cache, user_id: int
) -> Caller | None:
    """The user of a valid session cookie, or None once they no longer exist."""

    async def load() -> Caller | None:
        async with single_read(factory) as session:
            user = await session.get(User, user_id)
            if user is None:
                return None
            return caller_of(user)

    return await cached_as_is(cache, _caller_namespaces(user_id), "caller", load)


def cached_caller(cache: Cache, user_id: int) -> Caller | None:
    """``caller_for_user`` if this process knows the answer, without the database."""
    caller: Caller | None = cache.get(_caller_namespaces(user_id), "caller")
    return caller


async def caller_for_token(
    factory: async_sessionmaker[AsyncSession], cache: Cache, secret: str
) -> Caller | None:
    """The owner of a live API token, or None for an unknown or revoked one."""
    token_hash = hash_token(secret)

    async def load() -> int | None:
        async with transaction(factory) as session:
            return await owner_of_token(session, secret)

    namespaces = (token_namespace(token_hash), IDENTITIES_NAMESPACE)
    owner: int | None = await cached_as_is(cache, namespaces, "owner", load)
    return await caller_for_user(factory, cache, owner) if owner is not None else None
