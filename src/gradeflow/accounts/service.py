"""Creating, claiming and authenticating users."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts import throttle
from gradeflow.accounts.models import Role, User
from gradeflow.accounts.security import hash_password, verify_password
from gradeflow.accounts.throttle import SignInLimits
from gradeflow.db import transaction
from gradeflow.errors import Conflict, Invalid, Unauthorized

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
_STUDENT_NUMBER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
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
    # scrypt takes tens of milliseconds of CPU: off the event loop.
    user.password_hash = await asyncio.to_thread(hash_password, password)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("An account with that email or student number exists already.") from exc
    return user


def normalise_student_number(number: str) -> str:
    number = number.strip()
    if not _STUDENT_NUMBER.match(number):
        raise Invalid(
            "A student number is 1 to 64 letters, digits, '.', '-' or '_'.",
            details={"field": "student_number"},
        )
    return number


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    role: Role = Role.student,
    name: str | None = None,
    student_number: str | None = None,
) -> User:
    user = User(role=role, name=(name or "").strip()[:200] or None)
    if student_number is not None:
        user.student_number = normalise_student_number(student_number)
        taken = await session.scalar(
            select(User.id).where(User.student_number == user.student_number)
        )
        if taken is not None:
            raise Conflict("An account with that student number exists already.")
    return await _give_credentials(session, user, email=email, password=password)


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
        or not await asyncio.to_thread(verify_password, password, user.password_hash)
    ):
        raise Unauthorized("Wrong email or password.")
    return user


async def sign_in(
    factory: async_sessionmaker[AsyncSession],
    *,
    email: str,
    password: str,
    address: str,
    limits: SignInLimits,
) -> int:
    """The id of the user with these credentials, throttled per account and address.

    Takes the session factory rather than the request's session: a wrong password
    fails the request, and its failure must be committed all the same.
    """
    account = email.strip().lower()[:320]
    async with transaction(factory) as session:
        await throttle.check_allowed(session, account=account, address=address, limits=limits)
        try:
            user = await authenticate(session, email=account, password=password)
        except Unauthorized:
            user = None
        else:
            await throttle.forget_account_failures(session, account=account)
    if user is None:
        async with transaction(factory) as session:
            await throttle.record_failure(session, account=account, address=address, limits=limits)
        raise Unauthorized("Wrong email or password.")
    return user.id
