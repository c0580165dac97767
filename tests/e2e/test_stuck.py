"""The admin's stuck-submission page in a browser: accessible, and one click grades a
stuck submission again, at no cost to its student (the course page's twin is in
test_accessibility.py, as the teacher sees it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role
from gradeflow.grading.models import Submission
from gradeflow.grading.verdicts import FINAL_STATUSES, SubmissionStatus
from tests.conftest import LiveServer
from tests.e2e.pages import SignInPage
from tests.e2e.test_accessibility import PHONE, phone_problems, serious_violations
from tests.e2e.test_editor import screenshot
from tests.factories import PASSWORD, create_account
from tests.grades.conftest import build_school

pytestmark = pytest.mark.browser


async def test_an_admin_reruns_a_stuck_submission_with_one_click(
    live_server: LiveServer,
    page: Page,
    axe: Path,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await build_school(session_factory)  # Bob's submission failed on our side
    await create_account(session_factory, "admin@example.org", role=Role.admin)
    url = live_server.url
    await SignInPage(page).sign_in(url, "admin@example.org", PASSWORD, "/account")
    await page.get_by_test_id("stuck-link").click()
    await expect(page).to_have_url(f"{url}/admin/stuck")
    await expect(page.locator("h1")).to_be_visible()

    stuck = page.get_by_test_id("stuck").locator("tbody tr")
    await expect(stuck).to_have_count(1)
    await expect(stuck).to_contain_text("bob@example.org")
    await expect(stuck).to_contain_text("Algebra")  # the admin's list names the course
    await expect(stuck).to_contain_text("error")
    await screenshot(page, "admin-stuck")
    violations = await serious_violations(page, axe)
    await page.set_viewport_size(PHONE)
    violations += await phone_problems(page, axe, "admin-stuck")
    assert violations == [], "\n".join(violations)

    rerun = stuck.get_by_role("button", name="Re-run submission")
    submission_id = int(await rerun.get_attribute("data-submission-id") or 0)
    async with session_factory() as session:
        before = await session.get_one(Submission, submission_id)
    await rerun.click()
    await expect(page.locator("#stuck-note")).to_have_text(
        f"Submission {submission_id} is queued to be graded again."
    )
    await expect(stuck).to_have_text("Nothing is stuck.")

    # Graded again in place by the server's grader: the same row, a new generation.
    for _ in range(600):
        async with session_factory() as session:
            after = await session.get_one(Submission, submission_id)
        if after.status in FINAL_STATUSES and after.generation > before.generation:
            break
        await page.wait_for_timeout(100)
    assert after.generation == before.generation + 1
    assert after.status in (SubmissionStatus.passed, SubmissionStatus.failed)
    assert after.attempts == 1
