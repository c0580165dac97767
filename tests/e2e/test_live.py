"""Live updates survive a server restart: the page says it is reconnecting, then the
stream resumes and results still arrive."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from gradeflow.app import create_app
from gradeflow.settings import Settings
from tests.conftest import LiveServer, import_course_dir
from tests.e2e.pages import PracticePage
from tests.e2e.test_editor import screenshot
from tests.factories import ADDER_SOLUTION

pytestmark = pytest.mark.browser


async def test_after_a_server_restart_the_page_reconnects_and_the_result_still_arrives(
    settings: Settings, course_dir: Path, page: Page
) -> None:
    await import_course_dir(settings, course_dir)
    live = page.locator("#live-status")
    server = LiveServer(create_app(settings))
    with server:
        practice = await PracticePage(page).open(server.url)
        await expect(practice.title).to_have_text("Add two numbers")
        await expect(live).to_have_attribute("data-state", "open")
        path = await page.locator(".assignments li.current a").get_attribute("href")
    await expect(live).to_have_attribute("data-state", "reconnecting")
    await expect(live).to_have_text("Reconnecting… live updates will resume by themselves.")
    await screenshot(page, "live-reconnecting")

    with LiveServer(create_app(settings), port=server.port) as restarted:
        # Made outside the page (as another tab would): whether the page's new stream
        # is open by then or opens later from its last event, the result must show.
        response = await page.request.post(
            f"{restarted.url}/api{path}/submissions", data={"code": ADDER_SOLUTION}
        )
        assert response.status == 202
        await expect(live).to_have_attribute("data-state", "open")
        await expect(live).to_be_empty()
        await expect(practice.status).to_have_attribute("data-status", "passed")
        await expect(practice.points).to_have_text("10")
