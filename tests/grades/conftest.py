"""A course with enrolled students, a blob store and an importer over in-process adapters."""

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
from tests.factories import create_account, memory_outbox

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
