"""A small school for the grade-reading tests.

Course "Algebra" (taught by the teacher): assignments ``one`` (10 points) and
``two`` (20 points); students alice, bob and carol (nothing graded), and an
outsider who is not enrolled but has work and a grade there anyway. Course
"Biology": alice only.

Also a course with enrolled students, a blob store and an importer over in-process adapters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.courses import members
from gradeflow.db import transaction
from gradeflow.grades.blobs import DirectoryBlobStore
from gradeflow.grades.imports import create_upload
from gradeflow.grades.intake import ReceivedFile
from gradeflow.grades.models import Grade, GradeUpload
from gradeflow.grades.worker import Importer, ImporterConfig
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.verdicts import SubmissionStatus
from tests.factories import (
    add_assignment,
    add_graded_submission,
    create_account,
    memory_outbox,
    set_grade,
)


@dataclass
class School:
    algebra: int
    biology: int
    one: int
    two: int
    bio: int
    ids: dict[str, int]


async def build_school(factory: async_sessionmaker[AsyncSession]) -> School:
    ids = {
        "teacher": await create_account(factory, "teacher@example.org", role=Role.teacher),
        "alice": await create_account(factory, "alice@example.org", student_number="S1"),
        "bob": await create_account(factory, "bob@example.org"),
        "carol": await create_account(factory, "carol@example.org"),
        "outsider": await create_account(factory, "outsider@example.org"),
    }
    async with transaction(factory) as session:
        teacher = await session.get_one(User, ids["teacher"])
        teacher.name = "Ms Teacher"
        algebra = await members.create_course(session, teacher=teacher, slug="alg", title="Algebra")
        biology = await members.create_course(session, teacher=teacher, slug="bio", title="Biology")
        for name in ("alice", "bob", "carol"):
            await members.enrol_student(session, algebra, email=f"{name}@example.org")
        await members.enrol_student(session, biology, email="alice@example.org")
        one = await add_assignment(session, course_id=algebra.id, slug="one", points=10, order=1)
        two = await add_assignment(session, course_id=algebra.id, slug="two", points=20, order=2)
        bio = await add_assignment(session, course_id=biology.id, slug="cells", points=50)

        async def graded(
            who: str, assignment_id: int, status: SubmissionStatus, score: float | None
        ) -> None:
            assignment = {one.id: one, two.id: two, bio.id: bio}[assignment_id]
            await add_graded_submission(
                session, user_id=ids[who], assignment=assignment, status=status, score=score
            )

        await graded("alice", one.id, SubmissionStatus.failed, 5.0)
        await graded("alice", one.id, SubmissionStatus.passed, 10.0)
        await graded("alice", one.id, SubmissionStatus.failed, 2.5)
        await graded("alice", two.id, SubmissionStatus.failed, 4.0)
        # Not finished yet: a queued row carries no score that counts.
        await graded("alice", two.id, SubmissionStatus.queued, None)
        await graded("alice", bio.id, SubmissionStatus.passed, 50.0)
        # Only an infrastructure error: no best score at all.
        await graded("bob", one.id, SubmissionStatus.error, None)
        await graded("outsider", one.id, SubmissionStatus.passed, 10.0)

        teacher_id = ids["teacher"]
        await set_grade(
            session,
            course_id=algebra.id,
            user_id=ids["alice"],
            assessment="midterm",
            value=80,
            changed_by_id=teacher_id,
            upload_id=1,
        )
        await set_grade(
            session,
            course_id=algebra.id,
            user_id=ids["alice"],
            assessment="midterm",
            value=85,
            letter="B",
            comment="better",
            changed_by_id=teacher_id,
            upload_id=2,
        )
        await set_grade(
            session,
            course_id=algebra.id,
            user_id=ids["alice"],
            assessment="final",
            value=90,
            changed_by_id=teacher_id,
        )
        await set_grade(
            session,
            course_id=algebra.id,
            user_id=ids["bob"],
            assessment="final",
            value=70,
            comment="late",
            changed_by_id=teacher_id,
        )
        await set_grade(
            session, course_id=algebra.id, user_id=ids["outsider"], assessment="final", value=100
        )
        await set_grade(
            session, course_id=algebra.id, user_id=ids["outsider"], assessment="bonus", value=5
        )
        await set_grade(
            session, course_id=biology.id, user_id=ids["alice"], assessment="lab", value=7.5
        )
        return School(algebra.id, biology.id, one.id, two.id, bio.id, ids)


@pytest.fixture
async def school(session_factory: async_sessionmaker[AsyncSession]) -> School:
    return await build_school(session_factory)


STUDENTS = 5


@dataclass
class GradeWorld:
    factory: async_sessionmaker[AsyncSession]
    outbox: Outbox
    blobs: DirectoryBlobStore
    importer: Importer
    course_id: int
    teacher_id: int
    emails: list[str]

    async def upload(
        self, content: bytes, *, dry_run: bool = False, force: bool = False, name: str = "g.csv"
    ) -> int:
        async with self.blobs.create() as blob:
            await blob.write(content)
        import hashlib

        received = ReceivedFile(blob.key, name, len(content), hashlib.sha256(content).hexdigest())
        async with transaction(self.factory) as session:
            course = await members.taught_course(
                session, course_id=self.course_id, user=await session.get_one(User, self.teacher_id)
            )
            teacher = await session.get_one(User, self.teacher_id)
            upload = await create_upload(
                session,
                outbox=self.outbox,
                course=course,
                user=teacher,
                received=received,
                dry_run=dry_run,
                force=force,
            )
            return upload.id

    async def run(self, upload_id: int) -> GradeUpload:
        await self.importer.run(upload_id)
        return await self.get(upload_id)

    async def get(self, upload_id: int) -> GradeUpload:
        async with self.factory() as session:
            return await session.get_one(GradeUpload, upload_id)

    async def grades(self) -> dict[tuple[str, str], tuple[float, str | None, str]]:
        async with self.factory() as session:
            rows = await session.execute(
                select(User.email, Grade.assessment, Grade.value, Grade.letter, Grade.comment)
                .join(User, User.id == Grade.user_id)
                .where(Grade.course_id == self.course_id)
            )
            return {(e, a): (v, letter, c) for e, a, v, letter, c in rows}


@pytest.fixture
async def grade_world(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[GradeWorld]:
    teacher_id = await create_account(session_factory, "teacher@example.org", role=Role.teacher)
    emails = [f"s{i}@example.org" for i in range(STUDENTS)]
    for i, email in enumerate(emails):
        await create_account(session_factory, email, student_number=f"N{i:04d}")
    await create_account(session_factory, "outsider@example.org")
    async with transaction(session_factory) as session:
        teacher = await session.get_one(User, teacher_id)
        course = await members.create_course(session, teacher=teacher, slug="stats", title="Stats")
        for email in emails:
            await members.enrol_student(session, course, email=email)
        course_id = course.id
    outbox = memory_outbox(session_factory)
    blobs = DirectoryBlobStore(tmp_path / "blobs")
    importer = Importer(
        session_factory=session_factory,
        queue=outbox.queue,
        outbox=outbox,
        blobs=blobs,
        config=ImporterConfig(slots=2, max_attempts=3, lease_s=30, sweep_interval_s=0.5),
    )
    yield GradeWorld(session_factory, outbox, blobs, importer, course_id, teacher_id, emails)
    await importer.stop()
