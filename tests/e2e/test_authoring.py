"""A teacher authors an assignment in the browser and watches its solution pass the check."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.courses import members
from gradeflow.db import transaction
from tests.conftest import LiveServer
from tests.e2e.pages import AuthoringPage, PracticePage, SignInPage
from tests.e2e.test_gradebook import screenshot_path
from tests.factories import ADDER_SOLUTION, PASSWORD, add_assignment, create_account
from tests.grades.conftest import build_school

pytestmark = pytest.mark.browser

TESTS = """import unittest

from adder import add
from helpers import TWO


class AddTest(unittest.TestCase):
    def test_adds_two_numbers(self):
        self.assertEqual(add(TWO, 3), 5, "2 + 3 should be 5")
"""


async def test_a_teacher_authors_an_assignment_and_sees_it_pass_the_check(
    live_server: LiveServer,
    page: Page,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    teacher_id = await create_account(session_factory, "teach@example.org", role=Role.teacher)
    async with transaction(session_factory) as session:
        teacher = await session.get_one(User, teacher_id)
        course = await members.create_course(
            session, teacher=teacher, slug="web", title="Web", public=True
        )
    await page.goto(f"{live_server.url}/sign-in")
    await page.get_by_label("Email").fill("teach@example.org")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()

    form = await AuthoringPage(page).open_new(live_server.url, course.id)
    await form.fill(title="Add in the browser", slug="add-web", module="adder", points="10")
    await form.field("handout_md").fill("# Adding\n\nWrite `add(a, b)`; *any* numbers.")
    await expect(form.preview.locator("h1")).to_have_text("Adding")
    await expect(form.preview.locator("em")).to_have_text("any")
    await form.fill(tests=TESTS, solution=ADDER_SOLUTION, starter="def add(a, b):\n    pass\n")
    await form.add_support_file("helpers.py", "TWO = 2\n")
    await form.save()

    await expect(form.check_status).to_have_attribute("data-status", "passed", timeout=60_000)
    await expect(form.state).to_have_attribute("data-state", "published")
    await expect(form.check_tests.filter(has_text="AddTest.test_adds_two_numbers")).to_have_count(1)
    await page.screenshot(
        path=os.environ.get("GRADEFLOW_SCREENSHOT", tmp_path / "authoring.png"), full_page=True
    )
    await page.goto(f"{live_server.url}/")
    published = page.get_by_role("link", name="Add in the browser")
    await expect(published).to_be_visible()

    # A student (a guest, in a browser of their own) finds it and solves it.
    assert page.context.browser is not None
    student_context = await page.context.browser.new_context()
    student = PracticePage(await student_context.new_page())
    await student.page.goto(live_server.url + (await published.get_attribute("href") or "/"))
    await expect(student.title).to_have_text("Add in the browser")
    await expect(student.page.locator("#handout")).to_contain_text("any numbers")
    await student.write(ADDER_SOLUTION)
    await student.submit()
    await expect(student.status).to_have_attribute("data-status", "passed")
    await expect(student.success).to_contain_text("You earned 10 points")
    await expect(student.points).to_have_text("10")
    await student_context.close()


async def test_changing_points_says_old_scores_stay_until_a_regrade_and_links_to_one(
    live_server: LiveServer,
    page: Page,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    school = await build_school(session_factory)
    async with transaction(session_factory) as session:
        draft = await add_assignment(session, course_id=school.algebra, slug="unseen", order=3)
        draft.published = False
    assignments = f"/courses/{school.algebra}/assignments"
    await SignInPage(page).sign_in(live_server.url, "teacher@example.org", PASSWORD, assignments)
    rows = page.get_by_test_id("authored").locator("tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.get_by_role("link", name=re.compile("^Preview a regrade"))).to_have_count(2)
    await page.screenshot(path=screenshot_path(tmp_path, "assignments-list.png"), full_page=True)

    await rows.first.get_by_role("link", name="One", exact=True).click()
    form = AuthoringPage(page)
    await expect(page.get_by_test_id("regrade-link")).to_have_text("Preview a regrade")
    await form.fill(points="20")
    await form.save()
    note = page.get_by_test_id("rules-changed")
    await expect(note).to_contain_text("Scores students already have keep the old rules")
    await page.screenshot(path=screenshot_path(tmp_path, "points-changed.png"), full_page=True)
    await note.get_by_role("link", name="preview a regrade").click()
    await expect(page).to_have_url(f"{live_server.url}/assignments/{school.one}/regrade-preview")
    await expect(page.get_by_role("button", name="Preview regrade")).to_be_visible()

    await page.goto(f"{live_server.url}/assignments/{draft.id}/regrade-preview")
    await expect(page.get_by_test_id("draft-error")).to_contain_text("no submissions to regrade")
    await page.screenshot(path=screenshot_path(tmp_path, "draft-regrade.png"), full_page=True)
