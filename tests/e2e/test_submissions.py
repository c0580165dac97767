"""My submissions in a real browser: live from another tab, opened, deleted."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.pages import PracticePage, SubmissionsPage
from tests.e2e.test_editor import screenshot
from tests.factories import ADDER_SOLUTION, ADDER_WRONG

pytestmark = pytest.mark.browser


async def test_a_submission_made_in_one_tab_appears_live_in_the_other_and_opens(
    live_server: LiveServer, page: Page
) -> None:
    mine = await SubmissionsPage(page).open(live_server.url)
    await expect(mine.rows).to_have_count(0)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "open")
    other_tab = await page.context.new_page()
    practice = await PracticePage(other_tab).open(live_server.url)

    await practice.write(ADDER_WRONG)
    await practice.submit()
    await expect(mine.rows).to_have_count(1)
    row = mine.rows.first
    await expect(row).to_contain_text("Add two numbers")
    await expect(row.locator('[data-field="status"]')).to_have_text("failed")
    submission_id = int(await row.get_attribute("data-submission-id") or 0)

    await mine.view(submission_id)
    await expect(mine.detail).to_be_visible()
    await expect(mine.detail_code).to_contain_text("return a - b")
    first_test = mine.detail_feedback.locator('[data-test-id="AddTest.test_adds_two_numbers"]')
    await expect(first_test.get_by_test_id("expected")).to_have_text("5")
    await expect(first_test.get_by_test_id("actual")).to_have_text("-1")
    await screenshot(page, "submissions-detail")

    await practice.write(ADDER_SOLUTION)
    await practice.submit()
    await expect(mine.rows).to_have_count(2)
    await expect(mine.rows.first.locator('[data-field="status"]')).to_have_text("passed")
    await expect(mine.rows.first.locator('[data-field="score"]')).to_have_text("10")
    await expect(mine.points).to_have_text("10")
    await page.set_viewport_size({"width": 360, "height": 740})
    await screenshot(page, "submissions-phone")


async def test_a_graded_submission_is_deleted_after_confirmation_and_a_pending_one_cannot_be(
    live_server: LiveServer, page: Page
) -> None:
    practice = await PracticePage(page).open(live_server.url)
    await practice.write(ADDER_SOLUTION)
    await practice.submit()
    await expect(practice.status).to_have_attribute("data-status", "passed")
    await practice.write("import time\ntime.sleep(3)\n" + ADDER_WRONG)
    await practice.submit()
    await expect(practice.submit_button).to_be_disabled()

    mine = await SubmissionsPage(page).open(live_server.url)
    await expect(mine.rows).to_have_count(2)
    pending_id, graded_id = [
        int(value or 0)
        for value in await mine.rows.evaluate_all(
            "rows => rows.map(row => row.dataset.submissionId)"
        )
    ]
    pending_row = mine.row(pending_id)
    if await pending_row.get_attribute("data-status") in ("queued", "running"):
        await expect(pending_row.get_by_role("button", name=re.compile("Delete"))).to_have_count(0)
    # Once graded, it can go like any other.
    await expect(pending_row).to_have_attribute("data-status", "failed")
    await expect(pending_row.get_by_role("button", name=re.compile("Delete"))).to_have_count(1)

    await mine.delete(graded_id, confirm=False)
    await expect(mine.row(graded_id)).to_have_count(1)
    await mine.delete(graded_id, confirm=True)
    await expect(mine.row(graded_id)).to_have_count(0)
    await expect(mine.note).to_have_text(f"Submission {graded_id} deleted.")
    await expect(mine.points).to_have_text("0")
    await page.reload()
    await expect(mine.rows).to_have_count(1)
