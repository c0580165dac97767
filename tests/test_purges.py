"""Cached reads are purged by the writes themselves (``gradeflow.purges``): each kind
of write, ORM or set-based, purges exactly the namespaces that hold reads of it,
once it commits, and nothing when it rolls back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts import tokens
from gradeflow.accounts.identity import (
    IDENTITIES_NAMESPACE,
    identity_namespace,
    token_namespace,
    user_namespace,
)
from gradeflow.accounts.models import Role, User
from gradeflow.courses import members
from gradeflow.courses.members import MEMBERSHIPS_NAMESPACE
from gradeflow.courses.models import Course
from gradeflow.courses.reads import ASSIGNMENTS_NAMESPACE
from gradeflow.db import create_engine, create_session_factory, transaction
from gradeflow.events.models import Event
from gradeflow.events.service import user_channel
from gradeflow.grades.gradebook import OWN_GRADES_NAMESPACE
from gradeflow.grades.models import Grade
from gradeflow.grading.outbox import Outbox
from gradeflow.infra.cache import PURGE_CHANNEL, Cache
from gradeflow.infra.pubsub import MemoryPubSub
from gradeflow.infra.queue import MemoryQueue
from gradeflow.purges import purge_on_commit
from gradeflow.settings import Settings
from tests.factories import create_account

Factory = async_sessionmaker[AsyncSession]


@pytest.fixture
def cache() -> Cache:
    return Cache(ttl_s=60)


@pytest.fixture
async def purging(settings: Settings, cache: Cache) -> AsyncIterator[Factory]:
    engine = create_engine(settings.resolved_database_url)
    yield create_session_factory(engine, on_write=purge_on_commit(cache))
    await engine.dispose()


def fill(cache: Cache, *namespaces: str) -> None:
    for namespace in namespaces:
        cache.put((namespace,), cache.versions((namespace,)), "read", "cached")


def still_cached(cache: Cache, *namespaces: str) -> set[str]:
    return {n for n in namespaces if cache.get((n,), "read") is not None}


async def test_changing_a_user_purges_that_user_only(purging: Factory, cache: Cache) -> None:
    alice = await create_account(purging, "alice@example.org")
    bob = await create_account(purging, "bob@example.org")
    everything = (user_namespace(alice), user_namespace(bob), ASSIGNMENTS_NAMESPACE)
    fill(cache, *everything)
    async with transaction(purging) as session:
        (await session.get_one(User, alice)).name = "Alice"
        assert still_cached(cache, *everything) == set(everything)  # not before the commit
    assert still_cached(cache, *everything) == {user_namespace(bob), ASSIGNMENTS_NAMESPACE}


async def test_a_rolled_back_write_purges_nothing(purging: Factory, cache: Cache) -> None:
    alice = await create_account(purging, "alice@example.org")
    fill(cache, user_namespace(alice))

    async def promote_then_fail() -> None:
        async with transaction(purging) as session:
            (await session.get_one(User, alice)).role = Role.admin
            await session.flush()
            raise RuntimeError("then something fails")

    with pytest.raises(RuntimeError):
        await promote_then_fail()
    assert still_cached(cache, user_namespace(alice)) == {user_namespace(alice)}


async def test_course_and_enrolment_writes_purge_the_shared_reads(
    purging: Factory, cache: Cache
) -> None:
    teacher_id = await create_account(purging, "t@example.org", role=Role.teacher)
    await create_account(purging, "s@example.org")
    shared = (ASSIGNMENTS_NAMESPACE, MEMBERSHIPS_NAMESPACE, OWN_GRADES_NAMESPACE)
    fill(cache, *shared)
    async with transaction(purging) as session:
        teacher = await session.get_one(User, teacher_id)
        course = await members.create_course(session, teacher=teacher, slug="alg", title="Alg")
    # A new course: what assignments exist (and, its teacher being a member, who is where).
    assert still_cached(cache, *shared) == {OWN_GRADES_NAMESPACE}
    fill(cache, *shared)
    async with transaction(purging) as session:
        course = await session.get_one(Course, course.id)
        await members.enrol_student(session, course, email="s@example.org")
    # Enrolment changes who is where, not what assignments exist or what grades are.
    assert still_cached(cache, *shared) == {ASSIGNMENTS_NAMESPACE, OWN_GRADES_NAMESPACE}


async def test_a_set_based_statement_purges_what_its_table_feeds(
    purging: Factory, cache: Cache
) -> None:
    fill(cache, OWN_GRADES_NAMESPACE, ASSIGNMENTS_NAMESPACE)
    async with transaction(purging) as session:
        await session.execute(update(Grade).values(comment="bulk"))
    assert still_cached(cache, OWN_GRADES_NAMESPACE, ASSIGNMENTS_NAMESPACE) == {
        ASSIGNMENTS_NAMESPACE
    }
    fill(cache, IDENTITIES_NAMESPACE)
    async with transaction(purging) as session:
        # Whose rows a set-based write to users changed is not known: every identity.
        await session.execute(update(User).where(User.id < 0).values(name="x"))
    assert still_cached(cache, IDENTITIES_NAMESPACE) == set()


async def test_creating_and_revoking_a_token_purge_what_is_known_of_it(
    purging: Factory, cache: Cache
) -> None:
    owner_id = await create_account(purging, "t@example.org", role=Role.teacher)
    async with transaction(purging) as session:
        owner = await session.get_one(User, owner_id)
        token, secret = await tokens.create_token(session, user=owner, name="ci")
    namespace = token_namespace(tokens.hash_token(secret))
    fill(cache, namespace, user_namespace(owner_id))
    async with transaction(purging) as session:
        await tokens.revoke_token(session, user_id=owner_id, token_id=token.id)
    assert still_cached(cache, namespace, user_namespace(owner_id)) == {user_namespace(owner_id)}


class CountingPubSub(MemoryPubSub):
    """A real in-process pub/sub that also counts its round trips' worth of publishing."""

    def __init__(self) -> None:
        super().__init__()
        self.sends: list[list[tuple[str, str]]] = []

    async def publish(self, channel: str, message: str) -> None:
        self.sends.append([(channel, message)])
        await super().publish(channel, message)

    async def publish_many(self, messages: list[tuple[str, str]]) -> None:
        self.sends.append(list(messages))
        for channel, message in messages:
            await super().publish(channel, message)


async def test_a_units_purge_and_wake_ups_go_out_together_the_purge_first(
    settings: Settings,
) -> None:
    pubsub = CountingPubSub()
    shared = Cache(ttl_s=60, pubsub=pubsub)
    engine = create_engine(settings.resolved_database_url)
    try:
        factory = create_session_factory(engine, on_write=purge_on_commit(shared))
        outbox = Outbox(queue=MemoryQueue(), pubsub=pubsub, session_factory=factory)
        alice = await create_account(factory, "alice@example.org")
        pubsub.sends.clear()
        async with transaction(factory) as session:
            session.add(Event(user_id=alice, type="note", payload={}))
            await session.flush()
            outbox.announce_after_commit(session, [alice])
            assert pubsub.sends == []  # nothing before the commit
    finally:
        await engine.dispose()
    [sent] = pubsub.sends
    assert [channel for channel, _ in sent] == [PURGE_CHANNEL, user_channel(alice)]
    assert sent[0][1].split()[1:] == [user_namespace(alice)]


async def test_a_users_events_purge_their_reads_but_not_who_they_are(
    purging: Factory, cache: Cache
) -> None:
    alice = await create_account(purging, "alice@example.org")
    fill(cache, user_namespace(alice), identity_namespace(alice))
    async with transaction(purging) as session:
        session.add(Event(user_id=alice, type="note", payload={}))
    assert still_cached(cache, user_namespace(alice), identity_namespace(alice)) == {
        identity_namespace(alice)
    }
    async with transaction(purging) as session:
        (await session.get_one(User, alice)).name = "Alice"
    assert still_cached(cache, identity_namespace(alice)) == set()
