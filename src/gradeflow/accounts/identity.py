"""Who is calling: a session cookie or an API token, resolved to a ``Caller``.

Every request needs this, most of them only this and one cached read, so the
answer is cached in this process: a caller seen lately costs no database query.
A user's identity lives in their namespace (``user:42``) and a token's owner in the
token's (``token:<sha256>``); writing the user or the token purges them
(``gradeflow.purges``), so a revoked token or a changed role is refused or seen at
once, in every process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.accounts.tokens import hash_token, owner_of_token
from gradeflow.db import transaction
from gradeflow.infra.cache import Cache, cached_as_is

# Purged by a set-based write to users or tokens, which does not say whose rows.
IDENTITIES_NAMESPACE = "identities"


def user_namespace(user_id: int) -> str:
    """The cache namespace of one user: identity and personal read models."""
    return f"user:{user_id}"


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


# Enough ids for one query to be worth it; bounded so its IN list stays small.
MAX_GROUP = 500


class CallerLoader:
    """Identities that missed the cache, read from the database in groups.

    A miss while no read runs is read at once; the misses that arrive meanwhile (a
    class whose identities expired, all submitting at once) wait and are read
    together in the next, one ``SELECT … WHERE id IN`` instead of a unit of work each.
    """

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self.factory = factory
        self.on_group: Callable[[int], None] | None = None  # sizes, for tests
        self._waiting: dict[int, list[asyncio.Future[Caller | None]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def load(self, user_id: int) -> Caller | None:
        future: asyncio.Future[Caller | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(user_id, []).append(future)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_while_waiting())
        return await asyncio.shield(future)

    async def _read_while_waiting(self) -> None:
        while self._waiting:
            ids = list(self._waiting)[:MAX_GROUP]
            group = {user_id: self._waiting.pop(user_id) for user_id in ids}
            if self.on_group is not None:
                self.on_group(len(group))
            try:
                async with transaction(self.factory) as session:
                    users = await session.scalars(select(User).where(User.id.in_(ids)))
                    found = {user.id: caller_of(user) for user in users}
            except Exception as exc:
                for futures in group.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                continue
            for user_id, futures in group.items():
                for future in futures:
                    if not future.done():
                        future.set_result(found.get(user_id))


async def caller_for_user(loader: CallerLoader, cache: Cache, user_id: int) -> Caller | None:
    """The user of a valid session cookie, or None once they no longer exist."""

    async def load() -> Caller | None:
        return await loader.load(user_id)

    namespaces = (user_namespace(user_id), IDENTITIES_NAMESPACE)
    return await cached_as_is(cache, namespaces, "caller", load)


async def caller_for_token(loader: CallerLoader, cache: Cache, secret: str) -> Caller | None:
    """The owner of a live API token, or None for an unknown or revoked one."""
    token_hash = hash_token(secret)

    async def load() -> int | None:
        async with transaction(loader.factory) as session:
            return await owner_of_token(session, secret)

    namespaces = (token_namespace(token_hash), IDENTITIES_NAMESPACE)
    owner: int | None = await cached_as_is(cache, namespaces, "owner", load)
    return await caller_for_user(loader, cache, owner) if owner is not None else None
