"""Small builders for test data: assignment directories and code samples."""

from __future__ import annotations

import datetime as dt
import functools
import io
import textwrap
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.accounts.service import create_anonymous_user, create_user
from gradeflow.app import create_app
from gradeflow.courses.models import Assignment, CourseMember, MemberRole
from gradeflow.db import transaction, utcnow
from gradeflow.grades.models import Grade, GradeChange, GradeUpload, UploadStatus
from gradeflow.grading import runs, service
from gradeflow.grading.messages import GRADING_QUEUE
from gradeflow.grading.models import Submission
from gradeflow.grading.outbox import Outbox
from gradeflow.grading.sandbox import RunResult, Sandbox, TestResult
from gradeflow.grading.service import code_hash
from gradeflow.grading.verdicts import SubmissionStatus
from gradeflow.grading.worker import Grader, GraderConfig
from gradeflow.infra.pubsub import MemoryPubSub
from gradeflow.infra.queue import MemoryQueue
from gradeflow.metrics import Metrics
from gradeflow.settings import Settings

ADDER_TESTS = """
import unittest

from adder import add


class AddTest(unittest.TestCase):
    def test_adds_two_numbers(self):
        self.assertEqual(add(2, 3), 5, "2 + 3 should be 5")

    def test_adds_negative_numbers(self):
        self.assertEqual(add(-2, -3), -5)
"""

ADDER_SOLUTION = "def add(a, b):\n    return a + b\n"
ADDER_WRONG = "def add(a, b):\n    return a - b\n"
ADDER_HALF = "def add(a, b):\n    return 5 if (a, b) == (2, 3) else 0\n"


def write_assignment(
    root: Path,
    slug: str = "adder",
    *,
    title: str = "Add two numbers",
    order: int | None = 1,
    toml_extra: str = 'module = "adder"\ntime_limit_s = 5\n',
    tests: str = ADDER_TESTS,
    solution: str = ADDER_SOLUTION,
    starter: str | None = "def add(a, b):\n    pass\n",
    handout: str = "# Add\n\nWrite `add(a, b)`.\n",
    support: dict[str, str] | None = None,
) -> Path:
    directory = root / slug
    directory.mkdir(parents=True)
    order_line = f"order = {order}\n" if order is not None else ""
    (directory / "assignment.toml").write_text(f'title = "{title}"\n{order_line}{toml_extra}')
    (directory / "handout.md").write_text(handout)
    (directory / "tests.py").write_text(textwrap.dedent(tests))
    (directory / "solution.py").write_text(solution)
    if starter is not None:
        (directory / "starter.py").write_text(starter)
    for name, content in (support or {}).items():
        path = directory / "support" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return directory


GREETER_TESTS = """
import unittest

from greeter import greet


class GreetTest(unittest.TestCase):
    def test_greets_by_name(self):
        self.assertEqual(greet("Ada"), "Hello, Ada!")
"""


def write_course(root: Path, slug: str = "basics") -> Path:
    """A course of two assignments: adder (order 1, proportional) and greeter (order 2)."""
    course = root / slug
    course.mkdir(parents=True)
    (course / "course.toml").write_text('title = "Basics"\ndescription = "Two small ones."\n')
    write_assignment(
        course, "adder", toml_extra='module = "adder"\nscoring = "proportional"\npoints = 10\n'
    )
    write_assignment(
        course,
        "greeter",
        title="Greet",
        order=2,
        toml_extra='module = "greeter"\npoints = 20\n',
        tests=GREETER_TESTS,
        solution='def greet(name):\n    return f"Hello, {name}!"\n',
        starter="def greet(name):\n    pass\n",
    )
    return course


def memory_outbox(session_factory: async_sessionmaker[AsyncSession]) -> Outbox:
    """An outbox over in-process adapters: jobs land in its own ``MemoryQueue``."""
    return Outbox(
        queue=MemoryQueue(),
        pubsub=MemoryPubSub(),
        session_factory=session_factory,
    )


async def queued_jobs(outbox: Outbox) -> int:
    """How many grading jobs ``outbox`` has published so far (and nobody consumed)."""
    return await outbox.queue.depth(GRADING_QUEUE) or 0


PASSWORD = "correct horse battery"
# The default upload limit of a grade file (GRADEFLOW_MAX_UPLOAD_MB), for files.open_table.
MAX_GRADE_FILE = 200 * 1024 * 1024


async def create_account(
    session_factory: async_sessionmaker[AsyncSession],
    email: str,
    *,
    role: Role = Role.student,
    password: str = PASSWORD,
    student_number: str | None = None,
) -> int:
    """A registered user straight through the service; its id."""
    async with transaction(session_factory) as session:
        user = await create_user(
            session, email=email, password=password, role=role, student_number=student_number
        )
        return user.id


def authored_assignment(slug: str = "sum", **overrides: object) -> dict[str, object]:
    """The JSON body of ``POST /api/courses/{id}/assignments``: the adder, by API."""
    return {
        "slug": slug,
        "title": "Sum by API",
        "handout_md": "# Sum\n\nWrite `add(a, b)`.\n",
        "tests": textwrap.dedent(ADDER_TESTS),
        "solution": ADDER_SOLUTION,
        "starter": "def add(a, b):\n    pass\n",
        "module": "adder",
        "time_limit_s": 5,
    } | overrides


async def add_assignment(
    session: AsyncSession, *, course_id: int, slug: str, points: int = 100, order: int = 1
) -> Assignment:
    """An assignment row as authoring would store it (its tests are never run here)."""
    assignment = Assignment(
        course_id=course_id,
        slug=slug,
        title=slug.replace("-", " ").capitalize(),
        order=order,
        points=points,
        handout_md=f"# {slug}\n",
        module="adder",  # what ADDER_TESTS imports
        tests=ADDER_TESTS,
        solution=ADDER_SOLUTION,
        test_ids=["AddTest.test_adds_two_numbers", "AddTest.test_adds_negative_numbers"],
        revision="r1",
    )
    session.add(assignment)
    await session.flush()
    return assignment


async def add_graded_submission(
    session: AsyncSession,
    *,
    user_id: int,
    assignment: Assignment,
    status: SubmissionStatus,
    score: float | None,
) -> Submission:
    """A submission whose grading result is already stored, as a worker would leave it."""
    code = f"# {user_id} {status} {score}\n"
    submission = Submission(
        user_id=user_id,
        assignment_id=assignment.id,
        code=code,
        code_hash=code_hash(code),
        assignment_revision=assignment.revision,
        status=status,
        score=score,
    )
    session.add(submission)
    await session.flush()
    return submission


async def set_grade(
    session: AsyncSession,
    *,
    course_id: int,
    user_id: int,
    assessment: str,
    value: float,
    letter: str | None = None,
    comment: str = "",
    changed_by_id: int | None = None,
    upload_id: int | None = None,
) -> Grade:
    """A grade and its history row, as a grade-file upload writes them."""
    grade = await session.scalar(
        select(Grade).where(
            Grade.course_id == course_id, Grade.user_id == user_id, Grade.assessment == assessment
        )
    )
    change = GradeChange(
        course_id=course_id,
        user_id=user_id,
        assessment=assessment,
        old_value=grade.value if grade else None,
        old_letter=grade.letter if grade else None,
        old_comment=grade.comment if grade else None,
        new_value=value,
        new_letter=letter,
        new_comment=comment,
        changed_by_id=changed_by_id,
        upload_id=upload_id,
    )
    if grade is None:
        grade = Grade(course_id=course_id, user_id=user_id, assessment=assessment, value=value)
        session.add(grade)
    grade.value, grade.letter, grade.comment = value, letter, comment
    grade.updated_by_id = changed_by_id
    session.add(change)
    await session.flush()
    return grade


async def add_students(
    session: AsyncSession, *, course_id: int, count: int, prefix: str = "student"
) -> list[int]:
    """``count`` enrolled students without passwords (fast: no scrypt), by email order."""
    users = [
        User(email=f"{prefix}-{i:05d}@example.org", role=Role.student, name=f"Student {i}")
        for i in range(count)
    ]
    session.add_all(users)
    await session.flush()
    session.add_all(
        CourseMember(course_id=course_id, user_id=u.id, role=MemberRole.student) for u in users
    )
    await session.flush()
    return [u.id for u in users]


def run_result(passed: int, total: int = 2) -> RunResult:
    """A grading run of ``total`` tests ``AddTest.test_<i>``, the first ``passed`` passing."""
    tests = tuple(
        TestResult(id=f"AddTest.test_{i}", outcome="passed" if i < passed else "failed", message="")
        for i in range(total)
    )
    outcome = "passed" if passed == total else "failed"
    return RunResult(outcome, tests, f"{passed} of {total} tests passed.", "", "", 5)


async def queued_submission(
    factory: async_sessionmaker[AsyncSession],
    outbox: Outbox,
    assignment: Assignment,
    *,
    user: User | None = None,
    code: str = ADDER_SOLUTION,
) -> Submission:
    """A submission of ``user`` (a new anonymous student if None), queued for grading
    on ``outbox``'s queue."""
    async with transaction(factory) as session:
        submitter = user or await create_anonymous_user(session)
        return await service.submit_code(
            session,
            outbox=outbox,
            user=submitter,
            assignment=assignment,
            code=code,
            max_code_bytes=65536,
        )


async def graded_submission(
    factory: async_sessionmaker[AsyncSession],
    assignment: Assignment,
    passed: int,
    *,
    code: str | None = None,
) -> Submission:
    """A new anonymous student's submission, recorded as passing ``passed`` of two tests
    without a sandbox (so no grader needs to run)."""
    outbox = memory_outbox(factory)
    async with transaction(factory) as session:
        user = await create_anonymous_user(session)
        submission = await service.submit_code(
            session,
            outbox=outbox,
            user=user,
            assignment=assignment,
            code=code or f"x = {user.id}\n",
            max_code_bytes=65536,
        )
    async with transaction(factory) as session:
        claimed = await runs.claim_submission(
            session,
            outbox=outbox,
            submission_id=submission.id,
            owner="factory",
            max_attempts=3,
            lease_margin_s=30,
        )
        assert claimed is not None
    async with transaction(factory) as session:
        stored = await runs.record_result(
            session,
            outbox=outbox,
            submission_id=submission.id,
            owner="factory",
            generation=0,
            result=run_result(passed),
        )
    assert stored is not None
    return stored


async def lost_submission(
    factory: async_sessionmaker[AsyncSession],
    outbox: Outbox,
    *,
    assignment: Assignment,
    user_id: int,
    code: str = "x = 0\n",
) -> int:
    """A submission lost as a dead grader loses it: claimed, its lease let run out, then
    claimed again with no attempt left, so it ends ``error`` (a stuck submission)."""
    async with transaction(factory) as session:
        user = await session.get_one(User, user_id)
        submission = await service.submit_code(
            session,
            outbox=outbox,
            user=user,
            assignment=assignment,
            code=code,
            max_code_bytes=65536,
        )
    now = utcnow()
    for owner, at in (("dead", now), ("next", now + dt.timedelta(hours=1))):
        async with transaction(factory) as session:
            await runs.claim_submission(
                session,
                outbox=outbox,
                submission_id=submission.id,
                owner=owner,
                max_attempts=1,
                lease_margin_s=30,
                now=at,
            )
    return submission.id


def xlsx_bomb(cell_bytes: int, *, shared: bool = False) -> bytes:
    """A workbook (a few hundred KB) whose one cell below the header is ``cell_bytes``
    of text once unpacked: inline, or as its shared string. Written in chunks, so
    building it never holds the text."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006"
    header = '<row r="1"><c r="A1" t="inlineStr"><is><t>student</t></is></c></row>'
    if shared:
        cell = '<c r="A2" t="s"><v>0</v></c>'
        text_part, before, after = (
            "xl/sharedStrings.xml",
            f'<sst xmlns="{main}"><si><t>',
            "</t></si></sst>",
        )
    else:
        cell = '<c r="A2" t="inlineStr"><is><t>'
        text_part, before, after = (
            "xl/worksheets/sheet1.xml",
            "",
            "</t></is></c></row></sheetData></worksheet>",
        )
    sheet = f'<worksheet xmlns="{main}"><sheetData>{header}<row r="2">{cell}'
    if shared:
        sheet += "</row></sheetData></worksheet>"
    else:
        before, sheet = sheet, ""
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{pkg}/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        + ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
           'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
           if shared else "")
        + "</Types>",
        "_rels/.rels": f'<Relationships xmlns="{pkg}/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
        "xl/workbook.xml": f'<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
        '<sheet name="Roster" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{pkg}/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
        + (f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
           if shared else "")
        + "</Relationships>",
    }  # fmt: skip
    if shared:
        parts["xl/worksheets/sheet1.xml"] = sheet
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
        with archive.open(text_part, "w", force_zip64=True) as part:
            part.write(before.encode())
            chunk = b"a" * (1024 * 1024)
            for start in range(0, cell_bytes, len(chunk)):
                part.write(chunk[: cell_bytes - start])
            part.write(after.encode())
    return buffer.getvalue()


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def add_finished_uploads(
    session: AsyncSession, *, course_id: int, teacher_id: int
) -> tuple[int, int]:
    """An applied (since reverted) and a validated grade upload of the course: their ids,
    for routes that act on an upload's outcome."""
    ids = []
    for status in (UploadStatus.applied, UploadStatus.validated):
        upload = GradeUpload(
            course_id=course_id,
            uploaded_by_id=teacher_id,
            filename="g.csv",
            size=1,
            sha256="0" * 64,
            dry_run=status is UploadStatus.validated,
            status=status,
            reverted_at=utcnow() if status is UploadStatus.applied else None,
        )
        session.add(upload)
        await session.flush()
        ids.append(upload.id)
    return ids[0], ids[1]


@functools.cache
def api_schema() -> dict[str, Any]:
    """The app's OpenAPI schema, built once per test session (~0.5 s each time): its
    operations and statuses depend on no setting. The app is only built, never started."""
    schema: dict[str, Any] = create_app(Settings(secret_key="schema-only")).openapi()
    return schema


def grader_on(
    factory: async_sessionmaker[AsyncSession],
    outbox: Outbox,
    sandbox: Sandbox,
    config: GraderConfig,
) -> Grader:
    """A grader (not started) of ``sandbox`` consuming ``outbox``'s queue."""
    return Grader(
        session_factory=factory,
        queue=outbox.queue,
        outbox=outbox,
        sandbox=sandbox,
        config=config,
        metrics=Metrics(),
    )


def peak_traced_bytes(read: Callable[[], object]) -> int:
    """The most memory Python held while ``read`` ran (allocations, not a timing)."""
    tracemalloc.start()
    try:
        read()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
