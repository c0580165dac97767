"""One regrade or regrade preview per assignment at a time, decided by the database.

Every regrade, direct or preview, is a ``Regrade`` row, and a partial unique index
lets only one row per assignment be active (``running`` or ``ready``). Starting one
inserts its row: of two concurrent starts the second fails on the index and is
answered 409, with no read-then-write window. A direct regrade ends when no
submission of its assignment is regrading any more; that is noticed when the next
one starts and by the workers' sweeper (``close_finished_direct_regrades``).
"""

from __future__ import annotations

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import User
from gradeflow.courses.models import Assignment
from gradeflow.db import utcnow
from gradeflow.errors import Conflict
from gradeflow.grading.models import Regrade, RegradeKind, RegradeStatus, Submission


async def close_finished_direct_regrades(
    session: AsyncSession, *, assignment_id: int | None = None
) -> int:
    """Mark direct regrades with nothing left regrading as done; how many were."""
    still_regrading = exists().where(
        Submission.assignment_id == Regrade.assignment_id, Submission.regrading.is_(True)
    )
    query = update(Regrade).where(
        Regrade.kind == RegradeKind.direct,
        Regrade.status == RegradeStatus.running,
        ~still_regrading,
    )
    if assignment_id is not None:
        query = query.where(Regrade.assignment_id == assignment_id)
    closed = await session.execute(
        query.values(status=RegradeStatus.done, finished_at=utcnow()).execution_options(
            synchronize_session=False
        )
    )
    return int(getattr(closed, "rowcount", 0) or 0)


async def active_regrade(session: AsyncSession, *, assignment_id: int) -> Regrade | None:
    query = select(Regrade).where(
        Regrade.assignment_id == assignment_id,
        Regrade.status.in_([RegradeStatus.running, RegradeStatus.ready]),
    )
    return await session.scalar(query)


async def open_regrade(
    session: AsyncSession, *, assignment: Assignment, kind: RegradeKind, started_by: User | None
) -> Regrade:
    """The new active regrade of ``assignment``; Conflict while another one is active."""
    await close_finished_direct_regrades(session, assignment_id=assignment.id)
    # Only for a clear answer: the unique index below is what decides. (On SQLite the
    # update above already holds the write lock, so this read is exact there.)
    active = await active_regrade(session, assignment_id=assignment.id)
    if active is not None:
        raise _busy(active)
    regrade = Regrade(
        assignment_id=assignment.id,
        kind=kind,
        status=RegradeStatus.running,
        assignment_revision=assignment.revision,
        total=0,
        created_by_id=started_by.id if started_by is not None else None,
        created_at=utcnow(),
    )
    session.add(regrade)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        # Another start committed since the read above. The failed flush ends this
        # unit of work, so the other regrade cannot be looked up for the answer.
        raise Conflict(
            "Another regrade or regrade preview of this assignment has just started."
        ) from exc
    return regrade


def _busy(active: Regrade) -> Conflict:
    details = {"regrade_id": active.id, "kind": active.kind.value, "status": active.status.value}
    if active.kind is RegradeKind.direct:
        return Conflict(
            "A regrade of this assignment is running; wait until it is done.", details=details
        )
    return Conflict(
        "A regrade preview of this assignment is open; apply or discard it first.",
        details=details,
    )
