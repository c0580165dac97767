"""A teacher previews a regrade after the tests changed, reads who gains and who
loses and why, and applies it so that nobody loses."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role
from gradeflow.settings import Settings
from tests.api.test_previews import NEW_TESTS, ZERO_BUG, adder_id, make_teacher_of_basics
from tests.conftest import LiveServer, import_course_dir
from tests.e2e.pages import RegradePreviewPage
from tests.e2e.test_accessibility import PHONE, phone_problems, serious_violations
from tests.factories import ADDER_HALF, ADDER_SOLUTION, PASSWORD, create_account

pytestmark = pytest.mark.browser


async def _graded_guest(server: LiveServer, assignment_id: int, code: str) -> int:
    """A guest's submission over HTTP, once graded; the guest's user id."""
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as guest:
        user_id = int((await guest.post("/api/session")).json()["id"])
        accepted = await guest.post(
            f"/api/assignments/{assignment_id}/submissions", json={"code": code}
        )
        submission_id = accepted.json()["id"]
        for _ in range(1200):
            body = (await guest.get(f"/api/submissions/{submission_id}")).json()
            if body["status"] in ("passed", "failed", "error"):
                return user_id
            await asyncio.sleep(0.05)
    raise AssertionError("not graded")


async def test_a_teacher_previews_a_regrade_and_applies_it_so_nobody_loses(
    live_server: LiveServer,
    page: Page,
    settings: Settings,
    course_dir: Path,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    axe: Path,
) -> None:
    await create_account(session_factory, "teach@example.org", role=Role.teacher)
    await make_teacher_of_basics(session_factory, "teach@example.org")
    async with httpx.AsyncClient(base_url=live_server.url) as anyone:
        await anyone.post("/api/session")
        adder = await adder_id(anyone)
    gains = await _graded_guest(live_server, adder, ADDER_HALF)
    loses = await _graded_guest(live_server, adder, ZERO_BUG)
    await _graded_guest(live_server, adder, ADDER_SOLUTION)
    (course_dir / "adder" / "tests.py").write_text(NEW_TESTS)
    await import_course_dir(settings, course_dir)

    await page.goto(live_server.url + "/sign-in")
    await page.get_by_label("Email").fill("teach@example.org")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    preview = await RegradePreviewPage(page).start(live_server.url, adder)
    # The page reloads itself once every submission is graded again.
    await expect(preview.status).to_have_text("ready")
    await expect(preview.progress).to_have_text("3 of 3 graded")
    await expect(preview.gainers).to_have_text("1")
    await expect(preview.losers).to_have_text("1")
    loser = preview.row(f"Guest #{loses}")
    await expect(loser.get_by_test_id("delta")).to_have_text("-5")
    await expect(loser).to_contain_text("AddTest.test_adds_zeros: missing → failed")
    await expect(preview.row(f"Guest #{gains}").get_by_test_id("delta")).to_have_text("+5")
    await page.screenshot(
        path=os.environ.get("GRADEFLOW_SCREENSHOT", tmp_path / "regrade-preview.png"),
        full_page=True,
    )
    violations = await serious_violations(page, axe)
    await page.set_viewport_size(PHONE)
    violations += await phone_problems(page, axe, "regrade-preview")
    assert violations == [], "\n".join(violations)

    await preview.apply("the higher of old and new (nobody loses)")
    await expect(preview.status).to_have_text("applied")
    await expect(preview.losers).to_have_text("0")
    await expect(loser.get_by_test_id("delta")).to_have_text("0")
