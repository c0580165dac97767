"""The practice list as a course overview: progress, points per assignment, the next
one marked, and the top bar's points, all following results live."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.pages import PracticePage
from tests.e2e.test_editor import screenshot
from tests.factories import ADDER_SOLUTION, ADDER_WRONG

pytestmark = pytest.mark.browser


async def test_the_list_shows_progress_and_points_and_marks_the_next_assignment_live(
    live_server: LiveServer, page: Page
) -> None:
    practice = await PracticePage(page).open(live_server.url)
    items = page.locator("#assignment-list li")
    progress = page.get_by_test_id("progress-text")
    await expect(items).to_have_count(2)
    await expect(progress).to_have_text(re.compile(r"^0 of 2 completed · 0 of \d+ points$"))
    await expect(items.first).to_have_class(re.compile(r"\bnext\b"))
    await expect(items.first.get_by_test_id("item-points")).to_have_text("points: –/10")
    await expect(page.locator("#identity")).to_contain_text("Guest")

    await practice.write(ADDER_WRONG)
    await practice.submit()
    await expect(practice.status).to_have_attribute("data-status", "failed")
    await expect(items.first.get_by_test_id("item-points")).to_have_text("points: 0/10")
    await practice.write(ADDER_SOLUTION)
    await practice.submit()
    await expect(practice.points).to_have_text("10")
    await expect(progress).to_have_text(re.compile(r"^1 of 2 completed · 10 of \d+ points$"))
    await expect(items.first.get_by_test_id("item-points")).to_have_text("points: 10/10")
    await expect(items.first).not_to_have_class(re.compile(r"\bnext\b"))
    await expect(items.nth(1)).to_have_class(re.compile(r"\bnext\b"))
    await expect(page.locator("#progress-bar")).to_have_attribute("value", "1")
    await screenshot(page, "practice-overview")
    await page.set_viewport_size({"width": 360, "height": 740})
    await screenshot(page, "practice-overview-phone")

    await page.reload()
    await expect(progress).to_have_text(re.compile(r"^1 of 2 completed · 10 of \d+ points$"))
    await expect(items.nth(1)).to_have_class(re.compile(r"\bnext\b"))
