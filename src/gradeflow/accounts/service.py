"""Creating, claiming and authenticating users."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import Role, User
from gradeflow.accounts.security import hash_password, verify_password
from gradeflow.errors import Conflict, Invalid, Unauthorized

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
MIN_PASSWORD_LENGTH = 8


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise Invalid("That does not look like an email address.", details={"field": "email"})
    return email


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"The password must have at least {MIN_PASSWORD_LENGTH} characters.",
            details={"field": "password"},
        )


async def create_anonymous_user(session: AsyncSession) -> User:
    """A student identity without credentials, kept by a signed cookie."""
    user = User(role=Role.student)
    session.add(user)
    await session.flush()
    return user


async def _email_taken(session: AsyncSession, email: str) -> bool:
    return await session.scalar(select(User.id).where(User.email == email)) is not None


async def _give_credentials(
    session: AsyncSession, user: User, *, email: str, password: str
) -> User:
    email = normalise_email(email)
    _check_password(password)
    if await _email_taken(session, email):
        raise Conflict("An account with that email exists already.")
    user.email = email
    user.password_hash = hash_password(password)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("An account with that email exists already.") from exc
    return user


async def create_user(
    session: AsyncSession, *, email: str, password: str, role: Role = Role.student
) -> User:
    return await _give_credentials(session, User(role=role), email=email, password=password)


async def register(
    session: AsyncSession, *, email: str, password: str, current: User | None
) -> User:
    """Create an account; an anonymous identity in use is claimed, keeping its work."""
    if current is None or not current.is_anonymous:
        return await create_user(session, email=email, password=password)
    return await _give_credentials(session, current, email=email, password=password)


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User:
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    if (
        user is None
        or user.password_hash is None
        or not verify_password(password, user.password_hash)
    ):
        raise Unauthorized("Wrong email or password.")
    return user
