"""Group commit of submits: many at once, each judged as if alone."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.service import create_anonymous_user
from gradeflow.courses.models import Assignment
from gradeflow.db import transaction
from gradeflow.errors import Conflict
from gradeflow.events.models import Event
from gradeflow.grading.intake import SubmissionIntake
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.service import SubmitRequest
from gradeflow.infra.pubsub import MemoryPubSub
from gradeflow.infra.queue import MemoryQueue
from tests.factories import ADDER_SOLUTION, memory_outbox, queued_jobs

Factory = async_sessionmaker[AsyncSession]


async def new_students(factory: Factory, count: int) -> list[int]:
    async with transaction(factory) as session:
        return [(await create_anonymous_user(session)).id for _ in range(count)]


def request(user_id: int, assignment: Assignment, code: str) -> SubmitRequest:
    return SubmitRequest(user_id, assignment.id, assignment.revision, code)


async def test_submits_that_arrive_together_are_written_together_each_with_its_own_row(
    session_factory: Factory, adder: Assignment
) -> None:
    outbox = memory_outbox(session_factory)
    groups: list[int] = []
    intake = SubmissionIntake(session_factory, outbox, on_group=groups.append)
    students = await new_students(session_factory, 30)
    answers = await asyncio.gather(
        *(intake.submit(request(s, adder, f"{ADDER_SOLUTION}# {s}\n")) for s in students)
    )
    await intake.close()
    assert groups == [30]  # one unit of work for all of them
    assert [a["status"] for a in answers] == ["queued"] * 30
    assert len({a["id"] for a in answers}) == 30
    assert await queued_jobs(outbox) == 30  # every job published before the answers
    async with session_factory() as session:
        owners = {i: u for i, u in await session.execute(select(Submission.id, Submission.user_id))}
        events = await session.scalar(select(func.count()).select_from(Event))
    assert [owners[a["id"]] for a in answers] == students
    assert events == 30


async def test_a_student_twice_in_one_burst_gets_one_submission_and_a_conflict(
    session_factory: Factory, adder: Assignment
) -> None:
    intake = SubmissionIntake(session_factory, memory_outbox(session_factory))
    [student, other] = await new_students(session_factory, 2)
    first, second, third = await asyncio.gather(
        intake.submit(request(student, adder, ADDER_SOLUTION + "# 1\n")),
        intake.submit(request(student, adder, ADDER_SOLUTION + "# 2\n")),
        intake.submit(request(other, adder, ADDER_SOLUTION + "# 3\n")),
        return_exceptions=True,
    )
    await intake.close()
    assert isinstance(first, dict)
    assert isinstance(third, dict)
    assert isinstance(second, Conflict)
    assert second.details == {"submission_id": first["id"]}
    async with session_factory() as session:
        rows = await session.scalar(
            select(func.count()).select_from(Submission).where(Submission.user_id == student)
        )
    assert rows == 1


async def test_identical_graded_code_reuses_its_result_inside_a_group(
    session_factory: Factory, adder: Assignment
) -> None:
    intake = SubmissionIntake(session_factory, memory_outbox(session_factory))
    [earlier, student] = await new_students(session_factory, 2)
    graded = await intake.submit(request(earlier, adder, ADDER_SOLUTION))
    async with transaction(session_factory) as session:
        row = await session.get(Submission, graded["id"])
        assert row is not None
        row.status, row.score = row.status.passed, 10.0
    reused, fresh = await asyncio.gather(
        intake.submit(request(student, adder, ADDER_SOLUTION)),
        intake.submit(request(earlier, adder, ADDER_SOLUTION + "# new\n")),
    )
    await intake.close()
    assert (reused["status"], reused["score"], reused["reused"]) == ("passed", 10.0, True)
    assert (fresh["status"], fresh["reused"]) == ("queued", False)


async def test_a_submit_whose_student_is_gone_fails_alone(
    session_factory: Factory, adder: Assignment
) -> None:
    groups: list[int] = []
    intake = SubmissionIntake(
        session_factory, memory_outbox(session_factory), on_group=groups.append
    )
    students = await new_students(session_factory, 3)
    gone = max(students) + 1000
    outcomes = await asyncio.gather(
        *(intake.submit(request(s, adder, f"{ADDER_SOLUTION}# {s}\n")) for s in [*students, gone]),
        return_exceptions=True,
    )
    await intake.close()
    assert isinstance(outcomes[-1], IntegrityError)
    assert [o["status"] for o in outcomes[:-1]] == ["queued"] * 3  # type: ignore[index]
    assert groups == [4]  # written as one group first, then one by one


class GatedQueue(MemoryQueue):
    """The in-process queue, holding each publish until the test lets it through."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.held: asyncio.Queue[int] = asyncio.Queue()  # the size of each publish held

    async def publish_many(self, queue: str, bodies: list[bytes], *, priority: int = 0) -> int:
        self.held.put_nowait(len(bodies))
        await self.gate.wait()
        return await super().publish_many(queue, bodies, priority=priority)


async def test_the_next_group_is_written_while_the_last_ones_jobs_are_being_published(
    session_factory: Factory, adder: Assignment
) -> None:
    queue = GatedQueue()
    outbox = Outbox(queue=queue, pubsub=MemoryPubSub(), session_factory=session_factory)
    groups: list[int] = []
    intake = SubmissionIntake(session_factory, outbox, on_group=groups.append)
    [first, second, third] = await new_students(session_factory, 3)
    answered = asyncio.gather(
        intake.submit(request(first, adder, ADDER_SOLUTION + "# 1\n")),
        intake.submit(request(first, adder, ADDER_SOLUTION + "# 2\n")),  # the next group
        return_exceptions=True,
    )
    assert await queue.held.get() == 1
    later = asyncio.gather(
        intake.submit(request(second, adder, ADDER_SOLUTION + "# 3\n")),
        intake.submit(request(third, adder, ADDER_SOLUTION + "# 4\n")),
    )
    # The third group is committed and publishing while the first group's publish is
    # held; the student's second submit (the second group) was judged against the
    # first's committed row.
    assert await queue.held.get() == 2
    assert not answered.done()
    async with session_factory() as session:
        rows = await session.scalar(select(func.count()).select_from(Submission))
    assert rows == 3
    queue.gate.set()
    accepted, refused = await answered
    assert isinstance(accepted, dict)
    assert isinstance(refused, Conflict)
    assert refused.details == {"submission_id": accepted["id"]}
    assert [a["status"] for a in await later] == ["queued", "queued"]
    await intake.close()
    # How the later three were grouped depends on when the first group committed.
    assert groups[0] == 1
    assert sum(groups) == 4
    assert await queued_jobs(outbox) == 3
    async with session_factory() as session:
        marked = await session.scalar(
            select(func.count()).select_from(Submission).where(Submission.published_at.is_not(None))
        )
    assert marked == 3
