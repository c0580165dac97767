"""Claiming, recording and renewing runs in groups, against both SQLite and PostgreSQL:
each row of a group is judged as if alone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.identity import user_namespace
from gradeflow.accounts.service import create_anonymous_user
from gradeflow.courses.models import Assignment
from gradeflow.db import create_engine, create_session_factory, transaction, utcnow
from gradeflow.events.models import Event
from gradeflow.grading import runs, service
from gradeflow.grading.models import Submission
from gradeflow.grading.runs import RunRecord
from gradeflow.grading.verdicts import SubmissionStatus
from gradeflow.infra.cache import Cache
from gradeflow.purges import purge_on_commit
from gradeflow.settings import Settings
from tests.factories import memory_outbox, run_result

Factory = async_sessionmaker[AsyncSession]


async def queued(factory: Factory, assignment: Assignment, count: int) -> list[int]:
    """``count`` students' queued submissions."""
    ids = []
    for n in range(count):
        async with transaction(factory) as session:
            user = await create_anonymous_user(session)
            submission = await service.submit_code(
                session,
                outbox=memory_outbox(factory),
                user=user,
                assignment=assignment,
                code=f"x = {n}\n",
                max_code_bytes=65536,
            )
            ids.append(submission.id)
    return ids


async def claim_group(
    factory: Factory, ids: list[int], owner: str, now: dt.datetime | None = None
) -> dict[int, Submission]:
    async with transaction(factory) as session:
        return await runs.claim_submissions(
            session,
            outbox=memory_outbox(factory),
            submission_ids=ids,
            owner=owner,
            max_attempts=3,
            lease_margin_s=30,
            now=now,
        )


async def record_group(factory: Factory, records: list[RunRecord]) -> dict[int, Submission]:
    """Record ``records`` as grader w1's results, in one transaction."""
    async with transaction(factory) as session:
        return await runs.record_results(
            session, outbox=memory_outbox(factory), owner="w1", records=records
        )


async def events_of(factory: Factory, ids: list[int]) -> dict[int, list[str]]:
    """The statuses each submission's events told, in order."""
    async with factory() as session:
        events = await session.scalars(select(Event).order_by(Event.id))
        told: dict[int, list[str]] = {i: [] for i in ids}
        for event in events:
            described = event.payload["submission"]
            if described["id"] in told:
                told[described["id"]].append(described["status"])
    return told


async def test_a_group_claim_takes_only_the_claimable_rows(
    adder: Assignment, session_factory: Factory
) -> None:
    free, leased, exhausted, finished = await queued(session_factory, adder, 4)
    assert set(await claim_group(session_factory, [leased], "other")) == {leased}
    async with transaction(session_factory) as session:
        # One whose attempts ran out with an expired lease, one graded already.
        await session.execute(
            update(Submission)
            .where(Submission.id == exhausted)
            .values(
                status=SubmissionStatus.running,
                attempts=3,
                lease_owner="dead",
                lease_expires_at=utcnow() - dt.timedelta(seconds=1),
            )
        )
        await session.execute(
            update(Submission)
            .where(Submission.id == finished)
            .values(status=SubmissionStatus.passed)
        )

    claimed = await claim_group(session_factory, [free, leased, exhausted, finished, 999_999], "w1")

    assert set(claimed) == {free}
    assert claimed[free].assignment.id == adder.id
    async with session_factory() as session:
        rows = {
            s.id: s
            for s in await session.scalars(
                select(Submission).where(Submission.id.in_([free, leased, exhausted, finished]))
            )
        }
    assert (rows[free].status, rows[free].lease_owner, rows[free].attempts) == (
        SubmissionStatus.running,
        "w1",
        1,
    )
    assert (rows[leased].lease_owner, rows[leased].attempts) == ("other", 1)
    assert rows[exhausted].status is SubmissionStatus.error
    assert rows[finished].status is SubmissionStatus.passed
    told = await events_of(session_factory, [free, leased, exhausted, finished])
    assert told == {
        free: ["queued", "running"],
        leased: ["queued", "running"],
        exhausted: ["queued", "error"],
        finished: ["queued"],
    }


async def test_a_submission_named_twice_in_a_group_is_claimed_once(
    adder: Assignment, session_factory: Factory
) -> None:
    [one] = await queued(session_factory, adder, 1)
    claimed = await claim_group(session_factory, [one, one], "w1")
    assert claimed[one].attempts == 1
    assert await claim_group(session_factory, [one], "w2") == {}


async def test_a_group_with_one_lost_lease_records_the_others_and_not_that_one(
    adder: Assignment, session_factory: Factory
) -> None:
    kept, lost, regraded = await queued(session_factory, adder, 3)
    await claim_group(session_factory, [kept, lost, regraded], "w1")
    later = utcnow() + dt.timedelta(minutes=5)
    # Another grader took one over after w1's lease ran out; another run's row moved
    # on to a newer generation meanwhile.
    assert set(await claim_group(session_factory, [lost], "w2", now=later)) == {lost}
    async with transaction(session_factory) as session:
        await session.execute(
            update(Submission).where(Submission.id == regraded).values(generation=1)
        )

    stored = await record_group(
        session_factory,
        [
            RunRecord(kept, 0, run_result(2)),
            RunRecord(lost, 0, run_result(2)),
            RunRecord(regraded, 0, run_result(2)),
        ],
    )

    assert set(stored) == {kept}
    assert (stored[kept].status, stored[kept].score, stored[kept].lease_owner) == (
        SubmissionStatus.passed,
        10.0,
        None,
    )
    async with session_factory() as session:
        rows = {
            s.id: s
            for s in await session.scalars(
                select(Submission).where(Submission.id.in_([lost, regraded]))
            )
        }
    assert (rows[lost].status, rows[lost].lease_owner) == (SubmissionStatus.running, "w2")
    assert (rows[regraded].status, rows[regraded].feedback) == (SubmissionStatus.running, None)
    told = await events_of(session_factory, [kept, lost, regraded])
    assert told == {
        kept: ["queued", "running", "passed"],
        lost: ["queued", "running", "running"],
        regraded: ["queued", "running"],
    }


async def test_results_of_a_group_get_their_own_status_score_and_points(
    adder: Assignment, session_factory: Factory
) -> None:
    passing, failing, half = await queued(session_factory, adder, 3)
    await claim_group(session_factory, [passing, failing, half], "w1")
    stored = await record_group(
        session_factory,
        [
            RunRecord(passing, 0, run_result(2)),
            RunRecord(failing, 0, run_result(0)),
            RunRecord(half, 0, run_result(1)),
        ],
    )
    assert {i: (s.status, s.score) for i, s in stored.items()} == {
        passing: (SubmissionStatus.passed, 10.0),
        failing: (SubmissionStatus.failed, 0.0),
        half: (SubmissionStatus.failed, 5.0),
    }
    assert stored[half].feedback is not None
    assert [t["outcome"] for t in stored[half].feedback["tests"]] == ["passed", "failed"]
    async with session_factory() as session:
        events = list(await session.scalars(select(Event).order_by(Event.id)))
    points = {
        e.payload["submission"]["id"]: e.payload["points"] for e in events if "points" in e.payload
    }
    assert points == {passing: 10.0, failing: 0.0, half: 5.0}


async def test_renewing_leases_extends_only_those_still_held(
    adder: Assignment, session_factory: Factory
) -> None:
    held, lost = await queued(session_factory, adder, 2)
    await claim_group(session_factory, [held, lost], "w1")
    await claim_group(session_factory, [lost], "w2", now=utcnow() + dt.timedelta(minutes=5))
    async with transaction(session_factory) as session:
        renewed = await runs.renew_leases(session, owner="w1", leases={held: 600.0, lost: 600.0})
    assert renewed == {held}
    async with session_factory() as session:
        row = await session.get(Submission, held)
    assert row is not None
    assert row.lease_expires_at is not None
    assert row.lease_expires_at > utcnow() + dt.timedelta(seconds=500)


async def test_a_result_is_scored_with_the_assignment_it_ran_against(
    adder: Assignment, session_factory: Factory
) -> None:
    [one] = await queued(session_factory, adder, 1)
    claimed = await claim_group(session_factory, [one], "w1")
    ran_against = claimed[one].assignment
    ran_against.points = 40  # as the run saw it (this object is no session's)
    stored = await record_group(session_factory, [RunRecord(one, 0, run_result(2), ran_against)])
    assert stored[one].score == 40.0


async def test_a_grader_reads_an_assignment_again_once_its_revision_changed(
    adder: Assignment, session_factory: Factory
) -> None:
    before, after = await queued(session_factory, adder, 2)
    read = runs.AssignmentCache()

    async def claim(submission_id: int) -> Assignment:
        async with transaction(session_factory) as session:
            _, claimed = await runs.write_runs(
                session,
                outbox=memory_outbox(session_factory),
                owner="w1",
                claims=[submission_id],
                max_attempts=3,
                lease_margin_s=30,
                assignments_read=read,
            )
        return claimed[submission_id].assignment

    first = await claim(before)
    async with transaction(session_factory) as session:
        await session.execute(
            update(Assignment)
            .where(Assignment.id == adder.id)
            .values(points=40, revision="changed tests")
        )
    again = await claim(after)
    assert (first.points, again.points, again.revision) == (10, 40, "changed tests")


async def test_a_group_purges_the_cached_reads_of_the_students_it_writes_events_for(
    settings: Settings, adder: Assignment, session_factory: Factory
) -> None:
    # A group's events are inserted set-based, not as ORM objects (``gradeflow.purges``
    # is told their rows): their students' reads are purged all the same, only theirs.
    first, second, untouched = await queued(session_factory, adder, 3)
    async with session_factory() as session:
        users = dict((await session.execute(select(Submission.id, Submission.user_id))).all())
    namespaces = {i: user_namespace(users[i]) for i in (first, second, untouched)}
    cache = Cache(ttl_s=60)
    for namespace in namespaces.values():
        cache.put((namespace,), cache.versions((namespace,)), "read", "cached")
    engine = create_engine(settings.resolved_database_url)
    try:
        purging = create_session_factory(engine, on_write=purge_on_commit(cache))
        await claim_group(purging, [first, second], "w1")
    finally:
        await engine.dispose()
    cached = {n for n in namespaces.values() if cache.get((n,), "read") is not None}
    assert cached == {namespaces[untouched]}
