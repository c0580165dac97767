"""A submit refused because another assignment's run is pending comes back after it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import LiveServer
from tests.e2e.pages import PracticePage
from tests.factories import write_course

pytestmark = pytest.mark.browser


@pytest.fixture
def course_dir(tmp_path: Path) -> Path:
    """The usual course, with a time limit on the adder that a loop reaches soon."""
    course = write_course(tmp_path / "courses")
    with (course / "adder" / "assignment.toml").open("a") as toml:
        toml.write("time_limit_s = 2\n")
    return course


async def test_a_submit_refused_for_another_assignments_pending_run_comes_back_after_it(
    live_server: LiveServer, page: Page
) -> None:
    # Opened before the other tab submits, so its button starts enabled.
    greeter = PracticePage(page)
    await page.goto(f"{live_server.url}/")
    await page.locator(".assignments a", has_text="Greet").click()
    await expect(greeter.title).to_have_text("Greet")
    await greeter.write('def greet(name):\n    return f"Hello, {name}!"\n')
    adder = await PracticePage(await page.context.new_page()).open(live_server.url)
    await expect(adder.title).to_have_text("Add two numbers")
    await adder.write("def add(a, b):\n    while True:\n        pass\n")
    await adder.submit()
    await expect(adder.status).to_have_attribute("data-status", re.compile("queued|running"))

    await greeter.submit()
    await expect(greeter.status).to_have_text(
        "You already have a submission being graded; wait for its result."
    )
    await expect(greeter.submit_button).to_be_disabled()

    # The adder's loop is stopped at its time limit; then this tab may submit again.
    await expect(adder.status).to_have_attribute("data-status", "failed", timeout=60_000)
    await expect(greeter.submit_button).to_be_enabled()
    await expect(greeter.status).not_to_have_text(re.compile("already have a submission"))
    await greeter.submit()
    await expect(greeter.status).to_have_attribute("data-status", "passed")
