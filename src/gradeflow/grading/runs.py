"""Claiming, recording and renewing grading runs, for one submission or a group.

A group is written with a fixed number of statements however many it holds: one
read of the submissions' assignments, one conditional ``UPDATE … WHERE id IN (…)
RETURNING`` per lease length (claims) or for all (results), one insert of their
events. Each row is still judged alone by the statement's condition, so a group
behaves as its members would one at a time: a row not claimable, or whose lease was
lost or whose generation moved on, is left out and the others go ahead (BRIEF
section 3).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Insert,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    case,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from gradeflow.courses.models import Assignment
from gradeflow.db import observe_rows, utcnow
from gradeflow.events.models import Event
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.sandbox import RunResult
from gradeflow.grading.service import SUBMISSION_EVENT, points_of, submission_event_payload
from gradeflow.grading.verdicts import SubmissionStatus, compute_score, status_for

OUT_OF_ATTEMPTS = (
    "Grading failed {max_attempts} times; the operators have been told. Submit again later."
)

# The statements below are Core statements on the tables, each built once (a result's
# once per group size) and bound per group: building and compiling them, and the ORM's
# RETURNING entities, were most of what a group cost the grader (PERFORMANCE.md).
_SUBMISSIONS = cast(Table, Submission.__table__)
_EVENTS = cast(Table, Event.__table__)
_SUBMISSION_MAPPER = inspect(Submission)


@dataclass(frozen=True)
class RunRecord:
    """A finished run to store: the submission, the generation it ran for, its result,
    and the assignment it ran against (read again when not given), which scores it."""

    submission_id: int
    generation: int
    result: RunResult
    assignment: Assignment | None = None


def _claimable(now: ColumnElement[Any] | dt.datetime) -> ColumnElement[bool]:
    s = _SUBMISSIONS.c
    return or_(
        s.status == SubmissionStatus.queued,
        (s.status == SubmissionStatus.running) & (s.lease_expires_at < now),
    )


def _leased_by(owner: str | BindParameter[str]) -> ColumnElement[bool]:
    """Running under ``owner``'s lease (the guard of every update of a run)."""
    s = _SUBMISSIONS.c
    return and_(s.status == SubmissionStatus.running, s.lease_owner == owner)


def _now() -> BindParameter[dt.datetime]:
    return bindparam("now", type_=_SUBMISSIONS.c.finished_at.type)


def _submissions(rows: Sequence[RowMapping]) -> list[Submission]:
    """Detached submissions of whole rows a statement returned, as the ORM's loading
    makes them (values set without history, identity key given): the constructor and
    ``make_transient_to_detached`` took ~20 times longer, per row."""
    submissions = []
    for row in rows:
        submission: Submission = _SUBMISSION_MAPPER.class_manager.new_instance()
        submission.__dict__.update(row)
        state = instance_state(submission)
        state.key = _SUBMISSION_MAPPER.identity_key_from_primary_key((row["id"],))
        submissions.append(submission)
    return submissions


@dataclass
class AssignmentCache:
    """The assignments a grader process has read, by id and revision.

    A revision hashes everything that decides a grade (``AssignmentSpec.revision``:
    tests, files, limits, points, scoring), which is all a grader reads of an
    assignment; so a group reads only its submissions' assignment ids and revisions,
    and a whole assignment (tests, files: the longest row it reads) only when a
    revision is new to the process.
    """

    limit: int = 64
    _by_revision: dict[tuple[int, str], Assignment] = field(default_factory=dict)

    def get(self, assignment_id: int, revision: str) -> Assignment | None:
        return self._by_revision.get((assignment_id, revision))

    def keep(self, assignment: Assignment) -> None:
        if len(self._by_revision) >= self.limit:
            self._by_revision.clear()
        self._by_revision[(assignment.id, assignment.revision)] = assignment


@cache
def _assignments_query() -> Select[int, Assignment]:
    return (
        select(Submission.id, Assignment)
        .join(Assignment, Submission.assignment_id == Assignment.id)
        .where(Submission.id.in_(bindparam("ids", expanding=True)))
    )


@cache
def _revisions_query() -> Select[int, int, str]:
    return (
        select(Submission.id, Assignment.id, Assignment.revision)
        .join(Assignment, Submission.assignment_id == Assignment.id)
        .where(Submission.id.in_(bindparam("ids", expanding=True)))
    )


async def _assignments_of(
    session: AsyncSession, submission_ids: Collection[int], cache: AssignmentCache | None
) -> dict[int, Assignment]:
    if cache is None:
        rows = await session.execute(_assignments_query(), {"ids": list(submission_ids)})
        return {submission_id: assignment for submission_id, assignment in rows}
    revisions = await session.execute(_revisions_query(), {"ids": list(submission_ids)})
    assignments: dict[int, Assignment] = {}
    missing: set[int] = set()
    for submission_id, assignment_id, revision in revisions:
        assignment = cache.get(assignment_id, revision)
        if assignment is None:
            missing.add(submission_id)
        else:
            assignments[submission_id] = assignment
    if missing:
        rows = await session.execute(_assignments_query(), {"ids": list(missing)})
        for submission_id, assignment in rows:
            cache.keep(assignment)
            assignments[submission_id] = assignment
    return assignments


@cache
def _insert_events() -> Insert:
    return insert(_EVENTS)


async def _add_events(
    session: AsyncSession, outbox: Outbox, submissions: Sequence[Submission], now: dt.datetime
) -> None:
    """Their events, in one insert, with the points of every student they finish."""
    if not submissions:
        return
    finished = {s.user_id for s in submissions if s.status.is_final}
    points = await points_of(session, user_ids=finished) if finished else {}
    rows = [
        {
            "user_id": s.user_id,
            "type": SUBMISSION_EVENT,
            "payload": submission_event_payload(s, points=points.get(s.user_id)),
            "created_at": now,
        }
        for s in submissions
    ]
    await session.execute(_insert_events(), rows)
    # A statement does not say whose rows it wrote: their students' cached reads are
    # purged (``gradeflow.purges``) as an ORM flush of these events would have.
    observe_rows(session, "events", rows)
    outbox.announce_after_commit(session, [s.user_id for s in submissions])


async def write_runs(
    session: AsyncSession,
    *,
    outbox: Outbox,
    owner: str,
    records: Sequence[RunRecord] = (),
    claims: Collection[int] = (),
    max_attempts: int | None = None,
    lease_margin_s: float | None = None,
    now: dt.datetime | None = None,
    assignments_read: AssignmentCache | None = None,
) -> tuple[dict[int, Submission], dict[int, Submission]]:
    """Store ``records`` (``record_results``), then claim ``claims``
    (``claim_submissions``: needs ``max_attempts`` and ``lease_margin_s``), with one
    read of their assignments (of their revisions only, given ``assignments_read``)
    and one insert of their events; returns (stored, claimed), by id."""
    if len({r.submission_id for r in records}) != len(records):
        raise ValueError("a group holds each result at most once")
    if claims and (max_attempts is None or lease_margin_s is None):
        raise ValueError("claims need max_attempts and lease_margin_s")
    now = now or utcnow()
    known = {r.submission_id: r.assignment for r in records if r.assignment is not None}
    unknown = ({r.submission_id for r in records} | set(claims)) - known.keys()
    if unknown:
        known |= await _assignments_of(session, unknown, assignments_read)
    assignments = known
    stored = await _record(session, assignments, records, owner=owner, now=now)
    claimed: dict[int, Submission] = {}
    ended: list[Submission] = []
    if max_attempts is not None and lease_margin_s is not None:
        claimed, ended = await _claim(
            session,
            {i: assignments[i] for i in set(claims) if i in assignments},
            owner=owner,
            max_attempts=max_attempts,
            lease_margin_s=lease_margin_s,
            now=now,
        )
    await _add_events(session, outbox, [*stored.values(), *claimed.values(), *ended], now)
    return stored, claimed


async def claim_submissions(
    session: AsyncSession,
    *,
    outbox: Outbox,
    submission_ids: Collection[int],
    owner: str,
    max_attempts: int,
    lease_margin_s: float,
    now: dt.datetime | None = None,
) -> dict[int, Submission]:
    """Take the lease on each queued (or abandoned) submission of the group.

    Returns those claimed, by id, their assignment loaded; the others are held by
    someone else, finished or gone, or, out of attempts, ended as ``error`` here.
    """
    _, claimed = await write_runs(
        session,
        outbox=outbox,
        owner=owner,
        claims=submission_ids,
        max_attempts=max_attempts,
        lease_margin_s=lease_margin_s,
        now=now,
    )
    return claimed


async def _claim(
    session: AsyncSession,
    assignments: dict[int, Assignment],
    *,
    owner: str,
    max_attempts: int,
    lease_margin_s: float,
    now: dt.datetime,
) -> tuple[dict[int, Submission], list[Submission]]:
    """The claimed submissions, and those ended for want of attempts."""
    if not assignments:
        return {}, []
    # The lease lasts the assignment's time limit plus the margin: one statement for
    # each length (a group is nearly always of one assignment).
    by_lease: dict[float, list[int]] = {}
    for submission_id, assignment in assignments.items():
        lease_s = assignment.time_limit_s + lease_margin_s
        by_lease.setdefault(lease_s, []).append(submission_id)
    claimed: dict[int, Submission] = {}
    for lease_s, ids in by_lease.items():
        rows = await session.execute(
            _claim_statement(),
            {
                "ids": ids,
                "now": now,
                "max_attempts": max_attempts,
                "owner": owner,
                "lease_until": now + dt.timedelta(seconds=lease_s),
            },
        )
        for submission in _submissions(rows.mappings().all()):
            set_committed_value(submission, "assignment", assignments[submission.id])
            claimed[submission.id] = submission
    ended: list[Submission] = []
    if len(claimed) < len(assignments):
        rest = [i for i in assignments if i not in claimed]
        ended = await _end_exhausted(session, rest, max_attempts=max_attempts, now=now)
    return claimed, ended


def _update_claimable(*, attempts_left: bool) -> Update:
    """An update of the claimable rows among ``:ids`` with attempts left (or none)."""
    s = _SUBMISSIONS.c
    max_attempts = bindparam("max_attempts", type_=s.attempts.type)
    return update(_SUBMISSIONS).where(
        s.id.in_(bindparam("ids", expanding=True)),
        _claimable(_now()),
        s.attempts < max_attempts if attempts_left else s.attempts >= max_attempts,
    )


@cache
def _claim_statement() -> Update:
    s = _SUBMISSIONS.c
    now = _now()
    return (
        _update_claimable(attempts_left=True)
        .values(
            status=SubmissionStatus.running,
            lease_owner=bindparam("owner", type_=s.lease_owner.type),
            lease_expires_at=bindparam("lease_until", type_=s.lease_expires_at.type),
            attempts=s.attempts + 1,
            started_at=now,
        )
        .returning(*s)
    )


async def _end_exhausted(
    session: AsyncSession, submission_ids: list[int], *, max_attempts: int, now: dt.datetime
) -> list[Submission]:
    feedback = {
        "outcome": "internal_error",
        "message": OUT_OF_ATTEMPTS.format(max_attempts=max_attempts),
        "tests": [],
    }
    rows = await session.execute(
        _end_exhausted_statement(),
        {"ids": submission_ids, "now": now, "max_attempts": max_attempts, "ended": feedback},
    )
    return _submissions(rows.mappings().all())


@cache
def _end_exhausted_statement() -> Update:
    s = _SUBMISSIONS.c
    now = _now()
    return (
        _update_claimable(attempts_left=False)
        .values(
            status=SubmissionStatus.error,
            lease_owner=None,
            lease_expires_at=None,
            regrading=False,
            finished_at=now,
            score=0.0,
            feedback=bindparam("ended", type_=s.feedback.type),
        )
        .returning(*s)
    )


async def claim_submission(
    session: AsyncSession,
    *,
    outbox: Outbox,
    submission_id: int,
    owner: str,
    max_attempts: int,
    lease_margin_s: float,
    now: dt.datetime | None = None,
) -> Submission | None:
    """``claim_submissions`` of one: the claimed submission, or None."""
    claimed = await claim_submissions(
        session,
        outbox=outbox,
        submission_ids=[submission_id],
        owner=owner,
        max_attempts=max_attempts,
        lease_margin_s=lease_margin_s,
        now=now,
    )
    return claimed.get(submission_id)


async def record_results(
    session: AsyncSession, *, outbox: Outbox, owner: str, records: Sequence[RunRecord]
) -> dict[int, Submission]:
    """Store each result whose run ``owner`` still leases, for the generation it ran.

    Returns those stored, by id; a result of a lost lease or of an earlier
    generation is left out (its row is someone else's now).
    """
    stored, _ = await write_runs(session, outbox=outbox, owner=owner, records=records)
    return stored


async def _record(
    session: AsyncSession,
    assignments: dict[int, Assignment],
    records: Sequence[RunRecord],
    *,
    owner: str,
    now: dt.datetime,
) -> dict[int, Submission]:
    records = [r for r in records if r.submission_id in assignments]
    if not records:
        return {}
    params: dict[str, Any] = {"owner": owner, "now": now}
    for k, record in enumerate(records):
        assignment = assignments[record.submission_id]
        params[f"id{k}"] = record.submission_id
        params[f"generation{k}"] = record.generation
        params[f"status{k}"] = status_for(record.result)
        params[f"score{k}"] = compute_score(
            points=assignment.points, scoring=assignment.scoring, result=record.result
        )
        params[f"feedback{k}"] = record.result.to_dict()
        # The revision the run was graded and scored against, which the one stamped at
        # submit time is not when the tests changed while it waited: identical code
        # reuses this result only for that revision (``service.submit_group``).
        params[f"revision{k}"] = assignment.revision
    rows = await session.execute(_record_statement(len(records)), params)
    returned = {s.id: s for s in _submissions(rows.mappings().all())}
    # In the order the results came (RETURNING has none): so are their events.
    stored = {
        r.submission_id: returned[r.submission_id] for r in records if r.submission_id in returned
    }
    for submission in stored.values():
        set_committed_value(submission, "assignment", assignments[submission.id])
    return stored


@cache
def _record_statement(size: int) -> Update:
    """``UPDATE … SET status = CASE id WHEN :id0 THEN :status0 … WHERE id IN (:id0, …)
    AND <leased by :owner> AND generation = CASE id …`` for ``size`` results."""
    s = _SUBMISSIONS.c
    ids = [bindparam(f"id{k}", type_=s.id.type) for k in range(size)]

    def by_id(name: str, column: Any) -> Any:
        """One value a row, ``CASE id WHEN :id<k> THEN :<name><k> …``."""
        whens = [(ids[k], bindparam(f"{name}{k}", type_=column.type)) for k in range(size)]
        return case(*whens, value=s.id)

    return (
        update(_SUBMISSIONS)
        .where(
            s.id.in_(ids),
            _leased_by(bindparam("owner", type_=s.lease_owner.type)),
            s.generation == by_id("generation", s.generation),
        )
        .values(
            status=by_id("status", s.status),
            score=by_id("score", s.score),
            feedback=by_id("feedback", s.feedback),
            assignment_revision=by_id("revision", s.assignment_revision),
            regrading=False,
            finished_at=_now(),
            lease_owner=None,
            lease_expires_at=None,
        )
        .returning(*s)
    )


async def record_result(
    session: AsyncSession,
    *,
    outbox: Outbox,
    submission_id: int,
    owner: str,
    generation: int,
    result: RunResult,
) -> Submission | None:
    """``record_results`` of one: the stored submission, or None if the lease was lost."""
    stored = await record_results(
        session,
        outbox=outbox,
        owner=owner,
        records=[RunRecord(submission_id, generation, result)],
    )
    return stored.get(submission_id)


async def renew_leases(session: AsyncSession, *, owner: str, leases: dict[int, float]) -> set[int]:
    """Extend the leases ``owner`` still holds, each by its own seconds from now;
    returns the ids renewed (a lease missing from it was lost)."""
    now = utcnow()
    by_length: dict[float, list[int]] = {}
    for submission_id, seconds in leases.items():
        by_length.setdefault(seconds, []).append(submission_id)
    renewed: set[int] = set()
    for seconds, ids in by_length.items():
        rows = await session.scalars(
            update(Submission)
            .where(Submission.id.in_(ids), _leased_by(owner))
            .values(lease_expires_at=now + dt.timedelta(seconds=seconds))
            .returning(Submission.id)
            .execution_options(synchronize_session=False)
        )
        renewed.update(rows)
    return renewed
