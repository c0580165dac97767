"""The practice page's code editor in a real browser: typing, keys, drafts, fallback, phone."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.pages import PracticePage
from tests.factories import ADDER_SOLUTION, ADDER_WRONG

pytestmark = pytest.mark.browser

STARTER = "def add(a, b):\n    pass\n"


async def screenshot(page: Page, name: str) -> None:
    """Kept for a person to look at when GRADEFLOW_SCREENSHOTS names a directory
    (Playwright makes the directory)."""
    directory = os.environ.get("GRADEFLOW_SCREENSHOTS")
    if directory:
        await page.screenshot(path=str(Path(directory) / f"{name}.png"), full_page=True)


async def test_typing_is_auto_indented_and_ctrl_enter_submits(
    live_server: LiveServer, page: Page
) -> None:
    practice = await PracticePage(page).open(live_server.url)
    await practice.write("")
    await practice.code_editor.click()
    await page.keyboard.type("def add(a, b):\nreturn a + b")
    await expect(practice.editor).to_have_value("def add(a, b):\n    return a + b")
    await page.keyboard.press("Shift+Tab")
    await expect(practice.editor).to_have_value("def add(a, b):\nreturn a + b")
    await page.keyboard.press("Tab")
    await expect(practice.editor).to_have_value("def add(a, b):\n    return a + b")
    await expect(page.locator(".cm-lineNumbers")).to_contain_text("2")
    await expect(page.locator(".cm-content .tok-keyword, .cm-content span").first).to_be_visible()
    await screenshot(page, "editor-typed")

    await page.keyboard.press("Control+Enter")
    await expect(practice.status).to_have_attribute("data-status", "passed")


async def test_escape_then_tab_leaves_the_editor(live_server: LiveServer, page: Page) -> None:
    practice = await PracticePage(page).open(live_server.url)
    await expect(page.locator("#editor-hint")).to_contain_text("Esc then Tab leaves the editor")
    editor = page.get_by_role("textbox", name="Your solution (adder.py)")
    await expect(editor).to_have_attribute("aria-describedby", "editor-hint")
    await page.locator("#code-label").click()
    await expect(practice.code_editor).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(practice.code_editor).to_be_focused()
    await page.keyboard.press("Escape")
    await page.keyboard.press("Tab")
    await expect(practice.submit_button).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(practice.status).to_have_attribute("data-status", "failed")


async def test_a_draft_survives_a_reload_and_reset_to_starter_can_be_undone(
    live_server: LiveServer, page: Page
) -> None:
    practice = await PracticePage(page).open(live_server.url)
    await expect(practice.editor).to_have_value(STARTER)
    await practice.write(ADDER_WRONG)
    await page.reload()
    await expect(practice.title).to_have_text("Add two numbers")
    await expect(practice.editor).to_have_value(ADDER_WRONG)
    await expect(practice.draft_note).to_have_text("Restored your draft from this browser.")

    await practice.reset_button.click()
    await expect(practice.editor).to_have_value(STARTER)
    await expect(practice.code_editor).to_be_focused()
    await page.get_by_test_id("undo-reset").click()
    await expect(practice.editor).to_have_value(ADDER_WRONG)
    await practice.reset_button.click()
    await page.reload()
    await expect(practice.title).to_have_text("Add two numbers")
    await expect(practice.editor).to_have_value(STARTER)


async def test_without_the_editor_bundle_the_textarea_still_works(
    live_server: LiveServer, page: Page
) -> None:
    await page.route(re.compile(r"/static/build/editor\.js"), lambda route: route.abort())
    practice = await PracticePage(page).open(live_server.url)
    await expect(practice.editor).to_be_visible()
    await expect(page.locator("body")).to_have_attribute("data-editor", "textarea")
    await practice.write("")
    await practice.editor.press("Tab")
    await practice.editor.type("x")
    await expect(practice.editor).to_have_value("    x")
    await practice.write(ADDER_SOLUTION)
    await practice.editor.press("Control+Enter")
    await expect(practice.status).to_have_attribute("data-status", "passed")


async def test_a_phone_sized_page_does_not_scroll_sideways(
    live_server: LiveServer, page: Page
) -> None:
    await page.set_viewport_size({"width": 360, "height": 740})
    practice = await PracticePage(page).open(live_server.url)
    await practice.write(ADDER_WRONG)
    await practice.submit()
    await expect(practice.status).to_have_attribute("data-status", "failed")
    await screenshot(page, "phone-360")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    for selector in (".topbar", "#submit", ".cm-editor", "#feedback"):
        box = await page.locator(selector).bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 360, selector

    # The top bar is the same on the server-rendered pages.
    await page.goto(live_server.url + "/submissions")
    topbar = await page.locator(".topbar").bounding_box()
    assert topbar is not None
    assert topbar["width"] <= 360
    assert await page.evaluate("document.querySelector('.topbar').scrollWidth") <= 360
