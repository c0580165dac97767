"""Reading grades through the service functions, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.courses.models import CourseMember
from gradeflow.db import transaction
from gradeflow.errors import NotFound
from gradeflow.grades import gradebook
from tests.factories import add_students, set_grade
from tests.grades.conftest import School

Factory = async_sessionmaker[AsyncSession]


async def test_the_gradebook_has_best_points_imported_grades_and_totals(
    school: School, session_factory: Factory
) -> None:
    async with transaction(session_factory) as session:
        columns = await gradebook.gradebook_columns(session, course_id=school.algebra)
        rows = await gradebook.all_gradebook_rows(session, course_id=school.algebra)
    assert [a.slug for a in columns.assignments] == ["one", "two"]
    assert [a.points for a in columns.assignments] == [10, 20]
    # The outsider's "bonus" is no column: they are not enrolled.
    assert columns.assessments == ["final", "midterm"]
    by_email = {row.email: row for row in rows}
    assert [row.email for row in rows] == [
        "alice@example.org",
        "bob@example.org",
        "carol@example.org",
    ]
    alice = by_email["alice@example.org"]
    assert alice.best == {school.one: 10.0, school.two: 4.0}
    assert {name: cell.value for name, cell in alice.grades.items()} == {
        "midterm": 85.0,
        "final": 90.0,
    }
    assert alice.grades["midterm"].letter == "B"
    assert alice.student_number == "S1"
    assert alice.total == 10 + 4 + 85 + 90
    bob = by_email["bob@example.org"]
    assert bob.best == {}  # an errored submission has no score
    assert bob.grades["final"].comment == "late"
    assert bob.total == 70
    carol = by_email["carol@example.org"]
    assert (carol.best, carol.grades, carol.total) == ({}, {}, 0)


async def test_a_student_who_leaves_disappears_from_the_gradebook(
    school: School, session_factory: Factory
) -> None:
    async with transaction(session_factory) as session:
        member = await session.get_one(CourseMember, (school.algebra, school.ids["bob"]))
        await session.delete(member)
    async with transaction(session_factory) as session:
        rows = await gradebook.all_gradebook_rows(session, course_id=school.algebra)
        own = await gradebook.own_grades(session, user_id=school.ids["bob"])
    assert [row.email for row in rows] == ["alice@example.org", "carol@example.org"]
    assert own == []


async def test_own_grades_are_the_callers_in_their_courses_only(
    school: School, session_factory: Factory
) -> None:
    async with transaction(session_factory) as session:
        alice = await gradebook.own_grades(session, user_id=school.ids["alice"])
        bob = await gradebook.own_grades(session, user_id=school.ids["bob"])
        carol = await gradebook.own_grades(session, user_id=school.ids["carol"])
        outsider = await gradebook.own_grades(session, user_id=school.ids["outsider"])
        teacher = await gradebook.own_grades(session, user_id=school.ids["teacher"])
    assert [c.title for c in alice] == ["Algebra", "Biology"]
    algebra, biology = alice
    assert [(a.slug, a.points, a.best) for a in algebra.assignments] == [
        ("one", 10, 10.0),
        ("two", 20, 4.0),
    ]
    assert [(g.assessment, g.value, g.letter, g.comment) for g in algebra.grades] == [
        ("final", 90.0, None, ""),
        ("midterm", 85.0, "B", "better"),
    ]
    assert (algebra.points, algebra.max_points, algebra.total) == (14.0, 30, 189.0)
    assert (biology.points, biology.max_points, biology.total) == (50.0, 50, 57.5)
    [bob_algebra] = bob
    assert [a.best for a in bob_algebra.assignments] == [None, None]
    assert [(g.assessment, g.value) for g in bob_algebra.grades] == [("final", 70.0)]
    [carol_algebra] = carol
    assert (carol_algebra.grades, carol_algebra.points, carol_algebra.total) == ([], 0, 0)
    # Work and grades in a course one is not enrolled in do not show.
    assert outsider == []
    assert teacher == []


async def test_a_cells_history_is_newest_first_with_who_changed_it(
    school: School, session_factory: Factory
) -> None:
    async with transaction(session_factory) as session:
        alice = await gradebook.find_course_student(
            session, course_id=school.algebra, student=" Alice@Example.org "
        )
        by_id = await gradebook.find_course_student(
            session, course_id=school.algebra, student=str(school.ids["alice"])
        )
        history = await gradebook.cell_history(
            session, course_id=school.algebra, user_id=alice.id, assessment="midterm"
        )
        none = await gradebook.cell_history(
            session, course_id=school.algebra, user_id=alice.id, assessment="nothing"
        )
    assert alice.id == by_id.id == school.ids["alice"]
    assert [(h.old_value, h.new_value, h.upload_id) for h in history] == [
        (80.0, 85.0, 2),
        (None, 80.0, 1),
    ]
    assert history[0].new_letter == "B"
    assert history[0].new_comment == "better"
    assert history[0].changed_by_email == "teacher@example.org"
    assert history[0].changed_by_name == "Ms Teacher"
    assert none == []


async def test_history_is_found_for_a_former_student_but_not_a_stranger(
    school: School, session_factory: Factory
) -> None:
    async with transaction(session_factory) as session:
        # Not enrolled, but their grade history in the course is there.
        found = await gradebook.find_course_student(
            session, course_id=school.algebra, student="outsider@example.org"
        )
        assert found.id == school.ids["outsider"]
        for stranger in ("teacher@example.org", "nobody@example.org", "99999999", "9" * 30):
            with pytest.raises(NotFound):
                await gradebook.find_course_student(
                    session, course_id=school.biology, student=stranger
                )


async def test_rows_come_in_batches_each_read_when_it_is_needed(
    school: School, session_factory: Factory
) -> None:
    async with transaction(session_factory) as session:
        ids = await add_students(session, course_id=school.biology, count=30)
    batches = gradebook.stream_gradebook_batches(
        session_factory, course_id=school.biology, batch_size=7
    )
    seen = await anext(batches)
    assert len(seen) == 7
    # A grade given to the last student after the first batch was read shows: later
    # batches are read as the stream is consumed, not all at the start.
    async with transaction(session_factory) as session:
        await set_grade(
            session, course_id=school.biology, user_id=ids[-1], assessment="lab", value=3
        )
    seen += [row async for batch in batches for row in batch]
    assert [row.email for row in seen] == ["alice@example.org"] + [
        f"student-{i:05d}@example.org" for i in range(30)
    ]
    assert seen[-1].grades["lab"].value == 3
