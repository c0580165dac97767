"""A teacher sorts the gradebook, reads a cell's history; a student reads their grades."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.db import transaction
from tests.conftest import LiveServer
from tests.e2e.pages import GradebookPage, SignInPage
from tests.factories import PASSWORD, set_grade
from tests.grades.conftest import build_school

pytestmark = pytest.mark.browser


def screenshot_path(tmp_path: Path, name: str) -> Path:
    directory = os.environ.get("GRADEFLOW_SCREENSHOT_DIR")
    return Path(directory) / name if directory else tmp_path / name


async def test_a_teacher_sorts_the_gradebook_and_reads_a_cells_history(
    live_server: LiveServer,
    page: Page,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    school = await build_school(session_factory)
    await SignInPage(page).sign_in(
        live_server.url, "teacher@example.org", PASSWORD, f"/courses/{school.algebra}/gradebook"
    )
    book = GradebookPage(page)
    await expect(book.rows).to_have_count(3)
    assert await book.first_column() == [
        "alice@example.org",
        "bob@example.org",
        "carol@example.org",
    ]
    await book.header("Total").click()  # ascending: carol 0, bob 70, alice 189
    await expect(book.rows.first).to_contain_text("carol@example.org")
    await book.header("Total").click()
    await expect(book.rows.first).to_contain_text("alice@example.org")
    assert await book.first_column() == [
        "alice@example.org",
        "bob@example.org",
        "carol@example.org",
    ]
    await expect(book.csv_link).to_have_attribute(
        "href", f"/api/courses/{school.algebra}/grades.csv"
    )

    await book.cell_history_button("midterm", "alice@example.org").click()
    await expect(book.history).to_be_visible()
    items = book.history.locator("li")
    await expect(items).to_have_count(2)
    await expect(items.first).to_contain_text("80 → B (85)")
    await expect(items.first).to_contain_text("Ms Teacher")
    await expect(items.first).to_contain_text("upload #2")
    await page.screenshot(path=screenshot_path(tmp_path, "gradebook.png"), full_page=True)


async def test_a_student_reads_their_grades_per_course(
    live_server: LiveServer,
    page: Page,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    await build_school(session_factory)
    await page.goto(live_server.url + "/grades")
    await expect(page).to_have_url(f"{live_server.url}/sign-in?next=/grades")
    await SignInPage(page).sign_in(live_server.url, "alice@example.org", PASSWORD, "/grades")
    courses = page.get_by_test_id("course-grades")
    await expect(courses).to_have_count(2)
    await expect(courses.first.get_by_test_id("course-total")).to_have_text("189")
    await expect(courses.nth(1).get_by_test_id("course-points")).to_have_text("50")
    await expect(page.get_by_test_id("grades-link")).to_be_visible()
    await page.screenshot(path=screenshot_path(tmp_path, "grades.png"), full_page=True)


async def test_a_wide_gradebook_scrolls_inside_its_box_with_the_student_column_frozen(
    live_server: LiveServer,
    page: Page,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    school = await build_school(session_factory)
    async with transaction(session_factory) as session:
        for number in range(1, 26):
            for student in ("alice", "bob", "carol"):
                await set_grade(
                    session,
                    course_id=school.algebra,
                    user_id=school.ids[student],
                    assessment=f"Weekly quiz {number:02d}",
                    value=number + 60,
                )
    await SignInPage(page).sign_in(
        live_server.url, "teacher@example.org", PASSWORD, f"/courses/{school.algebra}/gradebook"
    )
    book = GradebookPage(page)
    await expect(book.rows).to_have_count(3)
    for width in (1280, 1024):
        await page.set_viewport_size({"width": width, "height": 800})
        await page.reload()
        await expect(book.rows).to_have_count(3)
        page_width = await page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= width, f"the page is {page_width} px wide at {width} px"
        assert await book.scrolls_sideways()

        await book.scroll_table_to_the_end()
        # The student's email is still where it was, on top of the scrolled cells.
        student = book.rows.first.locator("td:first-child")
        box = await student.bounding_box()
        table = await book.scroll_box.bounding_box()
        assert box is not None
        assert table is not None
        assert box["x"] - table["x"] < 2
        point = await student.evaluate(
            "cell => { const r = cell.getBoundingClientRect();"
            " return document.elementFromPoint(r.x + 5, r.y + r.height / 2).closest('td') === cell; }"
        )
        assert point, "the student column is covered by the cells scrolled under it"
        await page.screenshot(path=screenshot_path(tmp_path, f"gradebook-wide-{width}.png"))
