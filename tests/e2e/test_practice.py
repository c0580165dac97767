"""A student practises in a real browser: fail, see why live, fix, pass, earn points."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.pages import PracticePage
from tests.factories import ADDER_SOLUTION, ADDER_WRONG

pytestmark = pytest.mark.browser


async def test_a_wrong_answer_fails_live_then_the_fix_passes_and_points_go_up(
    live_server: LiveServer, page: Page
) -> None:
    practice = await PracticePage(page).open(live_server.url)
    await expect(practice.title).to_have_text("Add two numbers")
    await expect(practice.points).to_have_text("0")
    await expect(practice.user_id).to_have_text(re.compile(r"^\d+$"))
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))

    await practice.write(ADDER_WRONG)
    await practice.submit()
    await expect(practice.status).to_have_attribute("data-status", "failed")
    await expect(practice.test_result("AddTest.test_adds_two_numbers")).to_contain_text(
        "2 + 3 should be 5"
    )
    await expect(practice.submit_button).to_be_enabled()
    await expect(practice.points).to_have_text("0")

    # The same code again is not graded again: it gets the earlier result at once.
    await practice.submit()
    await expect(
        page.get_by_text("Identical code was graded before; this is that result.")
    ).to_be_visible()
    await expect(practice.status).to_have_attribute("data-status", "failed")
    mine = await (await page.request.get(f"{live_server.url}/api/submissions")).json()
    latest, first = mine["items"][0], mine["items"][1]
    assert (latest["reused"], first["reused"]) == (True, False)
    assert latest["feedback"] == first["feedback"]

    await practice.write(ADDER_SOLUTION)
    await practice.submit()
    await expect(practice.status).to_have_attribute("data-status", "passed")
    await expect(practice.success).to_contain_text("all tests pass")
    await expect(practice.points).to_have_text("10")
    await expect(practice.next_link).to_have_text("Next: Greet →")
    assert navigations == [], "the result must arrive without a reload"

    await practice.next_link.click()
    await expect(practice.title).to_have_text("Greet")
    draft = "def greet(name, loud=False):\n    return name\n"
    await practice.write(draft)
    # Coming back to the start resumes at the first assignment not yet completed,
    # with the draft this browser kept.
    await page.goto(live_server.url + "/")
    await expect(practice.title).to_have_text("Greet")
    await expect(practice.editor).to_have_value(draft)
    await expect(practice.draft_note).to_have_text("Restored your draft from this browser.")
    await page.reload()
    await expect(practice.points).to_have_text("10")
    await expect(practice.title).to_have_text("Greet")
    await expect(practice.editor).to_have_value(draft)


async def test_the_submit_button_is_disabled_while_grading(
    live_server: LiveServer, page: Page
) -> None:
    practice = await PracticePage(page).open(live_server.url)
    await practice.write("import time\ntime.sleep(1.5)\n" + ADDER_SOLUTION)
    await practice.submit()
    await expect(practice.submit_button).to_be_disabled()
    await expect(practice.status).to_have_attribute("data-status", re.compile("queued|running"))
    await expect(practice.status).to_have_attribute("data-status", "passed")
    await expect(practice.submit_button).to_be_enabled()


async def test_a_passed_assignment_reopens_with_own_code_and_an_unknown_one_says_so(
    live_server: LiveServer, page: Page
) -> None:
    practice = await PracticePage(page).open(live_server.url)
    await practice.write(ADDER_SOLUTION)
    await practice.submit()
    await expect(practice.status).to_have_attribute("data-status", "passed")
    path = await page.locator(".assignments li.current a").get_attribute("href")
    await page.goto(f"{live_server.url}{path}")
    await expect(practice.title).to_have_text("Add two numbers")
    await expect(practice.editor).to_have_value(ADDER_SOLUTION)
    await expect(practice.status).to_have_attribute("data-status", "passed")
    await expect(page.locator(".assignments li.current .mark")).to_have_text("✓")
    await expect(page).to_have_title("Add two numbers · gradeflow")

    await page.goto(live_server.url + "/assignments/424242")
    await expect(page.get_by_test_id("error-message")).to_have_text("No such assignment.")
    await expect(practice.points).to_have_count(0)
