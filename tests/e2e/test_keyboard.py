"""Keyboard only: a student submits on the practice page, then opens and deletes that
submission, without the mouse; every element the keyboard reaches shows it has focus,
and focus moves in reading order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.pages import PracticePage, SubmissionsPage

pytestmark = pytest.mark.browser

# The element with focus: its accessible-ish name, and whether its focus can be seen
# (an outline of its own, or CodeMirror's focused editor's).
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const visible = (node) => {
    const style = getComputedStyle(node);
    return style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  };
  const editor = el.closest(".cm-editor");
  return {
    name: (el.getAttribute("aria-label") || el.textContent || el.tagName).trim().slice(0, 60),
    tag: el.tagName.toLowerCase(),
    editor: Boolean(editor),
    visible: editor ? editor.classList.contains("cm-focused") && visible(editor) : visible(el),
  };
}"""
MAX_TABS = 40


async def focused(page: Page) -> dict[str, Any] | None:
    """The focused element, once its focus shows (CodeMirror marks itself focused a
    moment after it gets focus): waited for up to 5 s, then as it is."""
    found: dict[str, Any] | None = None
    for _ in range(100):
        found = await page.evaluate(FOCUSED)
        if found is None or found["visible"]:
            break
        await asyncio.sleep(0.05)
    return found


async def tab_until(page: Page, name: str, *, key: str = "Tab") -> list[str]:
    """Press ``key`` until the focused element's name starts with ``name``; the names
    focused on the way, each of which must show its focus."""
    seen: list[str] = []
    for _ in range(MAX_TABS):
        if seen[-1:] == ["editor"]:
            # Tab indents inside the editor; Escape first lets it move focus on.
            await page.keyboard.press("Escape")
        await page.keyboard.press(key)
        now = await focused(page)
        assert now is not None, f"focus fell to the page after {seen}"
        assert now["visible"], f"no visible focus on {now} (after {seen})"
        seen.append("editor" if now["editor"] else now["name"])
        if seen[-1].startswith(name):
            return seen
    raise AssertionError(f"{name!r} not reached with {key} in {MAX_TABS} presses: {seen}")


async def test_a_student_submits_then_opens_and_deletes_it_with_the_keyboard_only(
    live_server: LiveServer, page: Page
) -> None:
    url = live_server.url
    practice = await PracticePage(page).open(url)
    await expect(practice.title).to_have_text("Add two numbers")

    order = await tab_until(page, "editor")
    assert order[0] == "Skip to content"
    assert (
        order.index("Practice") < order.index("Add two numbers") < order.index("Reset to starter")
    )
    await page.keyboard.press("ControlOrMeta+a")
    # Typed as a student types: the editor indents the body and closes the bracket.
    await page.keyboard.type("def add(a, b):\nreturn a + b")
    await expect(practice.editor).to_have_value("def add(a, b):\n    return a + b")

    await page.keyboard.press("Escape")
    assert await tab_until(page, "Submit") == ["Submit"]
    await page.keyboard.press("Enter")
    await expect(practice.status).to_have_attribute("data-status", "passed")
    await expect(practice.points).to_have_text("10")
    # The status and points show at once; the feedback with its link comes after the
    # next assignment's lookup. Tab before it left the page (the submit button is last).
    await expect(practice.next_link).to_be_visible()
    await tab_until(page, "Next: Greet")
    await page.keyboard.press("Enter")
    await expect(practice.title).to_have_text("Greet")

    # To "My submissions" by the menu, open the one just made, and delete it.
    await tab_until(page, "My submissions", key="Shift+Tab")
    await page.keyboard.press("Enter")
    mine = SubmissionsPage(page)
    await expect(mine.rows).to_have_count(1)
    submission_id = int(await mine.rows.first.get_attribute("data-submission-id") or 0)
    await tab_until(page, f"View submission {submission_id}")
    await page.keyboard.press("Enter")
    await expect(mine.detail_code).to_contain_text("return a + b")
    await expect(mine.detail).to_be_focused()

    # Delete sits in the row above the open submission: back with Shift+Tab.
    await tab_until(page, f"Delete submission {submission_id}", key="Shift+Tab")
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    # Escape cancels and gives focus back to the Delete button.
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    delete = page.get_by_role("button", name=f"Delete submission {submission_id}")
    await expect(delete).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    assert await tab_until(page, "Delete", key="Shift+Tab") == ["Delete"]
    await page.keyboard.press("Enter")

    await expect(mine.rows).to_have_count(0)
    await expect(mine.note).to_have_text(f"Submission {submission_id} deleted.")
    await expect(mine.note).to_be_focused()
    await expect(mine.points).to_have_text("0")
