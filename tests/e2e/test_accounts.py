"""A guest practises, registers without losing points, signs out and in again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.pages import PracticePage
from tests.factories import ADDER_SOLUTION, PASSWORD

pytestmark = pytest.mark.browser


async def test_a_guest_registers_keeps_points_and_signs_back_in(
    live_server: LiveServer, page: Page, tmp_path: Path
) -> None:
    practice = await PracticePage(page).open(live_server.url)
    await practice.write(ADDER_SOLUTION)
    await practice.submit()
    await expect(practice.points).to_have_text("10")

    await page.get_by_role("link", name="Register").click()
    await page.get_by_label("Email").fill("sam@example.org")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_test_id("account-email")).to_have_text("sam@example.org")
    await expect(page.locator("#points")).to_have_text("10")
    await page.screenshot(path=os.environ.get("GRADEFLOW_SCREENSHOT", tmp_path / "account.png"))

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    await page.get_by_role("link", name="Sign in").click()
    await page.get_by_label("Email").fill("sam@example.org")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("form-error")).to_have_text("Wrong email or password.")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("account-email")).to_have_text("sam@example.org")
    await page.get_by_role("link", name="Practice").click()
    await expect(page.locator("#points")).to_have_text("10")
