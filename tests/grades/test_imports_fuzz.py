"""Hypothesis through the import service: a grade file with a bad row among good-looking
ones is rejected whole, names the row and column of each problem, and leaves every grade
and every history row as it was."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from gradeflow.grades.models import GradeChange, UploadStatus, grade_upload_rows
from gradeflow.grades.rows import GRADE_COLUMNS
from tests.grades.conftest import STUDENTS, GradeWorld

# Text a spreadsheet cell holds: no control characters (a file with them is binary).
CELL_TEXT = st.characters(exclude_categories=("Cc", "Cs"))
GOOD_ROW = st.tuples(
    st.sampled_from([f"s{i}@example.org" for i in range(STUDENTS)] + ["N0001", "S3@EXAMPLE.ORG"]),
    st.sampled_from(["87.5", "10", "0", "B+", "7,5"]),
    st.sampled_from(["final", "quiz 1", "midterm"]),
    st.text(CELL_TEXT, max_size=20),
)
BAD_ROW = st.one_of(
    st.tuples(st.just("nobody@example.org"), st.just("5"), st.just("final"), st.just("")),
    st.tuples(
        st.just("s0@example.org"),
        st.sampled_from(["-1", "abc", "nan", "1e9", ""]),
        st.just("exam"),
        st.just(""),
    ),
    st.tuples(st.just(""), st.just("5"), st.just("final"), st.just("")),
    st.tuples(st.just("s1@example.org"), st.just("5"), st.just(""), st.just("")),
    st.tuples(
        st.just("s2@example.org"),
        st.just("5"),
        st.text(CELL_TEXT, min_size=201, max_size=210),
        st.just(""),
    ),
)


async def grade_state(world: GradeWorld) -> tuple[dict[tuple[str, str], object], int]:
    async with world.factory() as session:
        changes = await session.scalar(select(func.count()).select_from(GradeChange))
        # An applied upload's history is its kept rows; a rejected one keeps none.
        kept = await session.scalar(select(func.count()).select_from(grade_upload_rows))
    return await world.grades(), (changes or 0) + (kept or 0)


@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    # One school for all examples: each compares the grades before and after its own file.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    good=st.lists(GOOD_ROW, max_size=6),
    bad=BAD_ROW,
    position=st.integers(0, 6),
    delimiter=st.sampled_from([",", ";"]),
)
async def test_a_file_with_a_bad_row_changes_nothing_and_says_where(
    grade_world: GradeWorld,
    good: list[tuple[str, str, str, str]],
    bad: tuple[str, str, str, str],
    position: int,
    delimiter: str,
) -> None:
    rows = [*good]
    rows.insert(min(position, len(rows)), bad)
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows([GRADE_COLUMNS, *rows])
    before = await grade_state(grade_world)

    upload = await grade_world.run(await grade_world.upload(buffer.getvalue().encode()))

    assert upload.status is UploadStatus.rejected, upload.message
    assert await grade_state(grade_world) == before
    assert upload.errors
    for error in upload.errors:
        assert 2 <= error["row"] <= len(rows) + 1, error
        assert error["column"] in GRADE_COLUMNS, error
        assert error["message"], error
