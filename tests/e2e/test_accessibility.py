"""axe-core over every page a student or a teacher sees: no serious or critical
violation (missing labels, low contrast, broken landmarks and the like).

axe-core comes from npm (``frontend/package.json``'s devDependencies, installed by
``make install``); the test reads its ``axe.min.js`` from ``frontend/node_modules``
and injects it into each page. It is never served by gradeflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import LiveServer
from tests.e2e.pages import PracticePage, SignInPage, SubmissionsPage
from tests.e2e.test_editor import screenshot
from tests.factories import ADDER_WRONG, PASSWORD
from tests.grades.conftest import build_school

pytestmark = pytest.mark.browser

SERIOUS = ("serious", "critical")


async def serious_violations(page: Page, axe: Path) -> list[str]:
    """The serious and critical axe violations of the page as it is now, one line each."""
    await page.add_script_tag(path=str(axe))
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => (await axe.run(document)).violations
            .filter((v) => ["serious", "critical"].includes(v.impact))
            .map((v) => ({ id: v.id, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")) }))"""
    )
    return [f"{page.url} {v['id']}: {v['help']} at {v['targets'][:5]}" for v in found]


async def test_the_pages_a_student_sees_have_no_serious_accessibility_violation(
    live_server: LiveServer, page: Page, axe: Path
) -> None:
    violations: list[str] = []
    url = live_server.url
    practice = await PracticePage(page).open(url)
    await practice.write(ADDER_WRONG)
    await practice.submit()
    await expect(practice.status).to_have_attribute("data-status", "failed")
    violations += await serious_violations(page, axe)

    mine = await SubmissionsPage(page).open(url)
    await mine.view(int(await mine.rows.first.get_attribute("data-submission-id") or 0))
    await expect(mine.detail_code).to_contain_text("return a - b")
    violations += await serious_violations(page, axe)
    await page.get_by_role("button", name="Delete submission").first.click()
    await expect(page.get_by_role("dialog")).to_be_visible()
    await screenshot(page, "submissions-delete-dialog")
    violations += await serious_violations(page, axe)

    await page.goto(f"{url}/courses")
    violations += await serious_violations(page, axe)
    course = await page.locator("main a[href^='/courses/']").first.get_attribute("href")
    await page.goto(f"{url}{course}")
    violations += await serious_violations(page, axe)
    for path in ("/sign-in", "/register", "/no-such-page", "/assignments/424242"):
        await page.goto(url + path)
        await expect(page.locator("h1:visible")).to_have_count(1)
        await screenshot(page, "page" + path.replace("/", "-"))
        violations += await serious_violations(page, axe)

    # The same pages on a phone: small targets, clipped labels and text over text
    # show only there.
    await page.set_viewport_size(PHONE)
    await practice.open(url)
    await expect(practice.status).to_have_attribute("data-status", "failed")
    violations += await phone_problems(page, axe, "practice")
    await mine.open(url)
    await mine.view(int(await mine.rows.first.get_attribute("data-submission-id") or 0))
    await expect(mine.detail_code).to_contain_text("return a - b")
    violations += await phone_problems(page, axe, "submissions")
    for path in ("/courses", course or "/courses", "/sign-in", "/register", "/no-such-page"):
        await page.goto(url + path)
        await expect(page.locator("h1:visible")).to_have_count(1)
        violations += await phone_problems(page, axe, "page" + path.replace("/", "-"))
    assert violations == [], "\n".join(violations)


PHONE = {"width": 360, "height": 740}


async def phone_problems(page: Page, axe: Path, name: str) -> list[str]:
    """At 360 px: the serious axe violations, and the page scrolling sideways."""
    await screenshot(page, f"phone-{name}")
    problems = await serious_violations(page, axe)
    width = await page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        problems.append(f"{page.url} is {width} px wide at {PHONE['width']} px")
    return problems


async def test_the_pages_a_teacher_sees_have_no_serious_accessibility_violation(
    live_server: LiveServer,
    page: Page,
    axe: Path,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    school = await build_school(session_factory)
    url = live_server.url
    await SignInPage(page).sign_in(url, "teacher@example.org", PASSWORD, "/account")
    await expect(page.get_by_test_id("account-link")).to_be_visible()
    violations = await serious_violations(page, axe)
    for path in (
        "/courses",
        f"/courses/{school.algebra}",
        f"/courses/{school.algebra}/gradebook",
        f"/courses/{school.algebra}/grade-uploads",
        f"/courses/{school.algebra}/assignments",
        f"/courses/{school.algebra}/assignments/new",
        f"/courses/{school.algebra}/assignments/{school.one}/edit",
        "/grades",
    ):
        await page.goto(url + path)
        await expect(page.locator("h1").first).to_be_visible()
        violations += await serious_violations(page, axe)

    # Bob's submission failed on our side: the course's stuck list has it, and one
    # click grades it again.
    await page.goto(f"{url}/courses/{school.algebra}")
    await page.get_by_test_id("stuck-link").click()
    stuck = page.get_by_test_id("stuck").locator("tbody tr")
    await expect(stuck).to_have_count(1)
    await expect(stuck).to_contain_text("bob@example.org")
    await expect(stuck).to_contain_text("error")
    await screenshot(page, "stuck")
    violations += await serious_violations(page, axe)
    await page.set_viewport_size(PHONE)
    violations += await phone_problems(page, axe, "stuck")
    rerun = stuck.get_by_role("button", name="Re-run submission")
    submission_id = await rerun.get_attribute("data-submission-id")
    await rerun.click()
    await expect(page.locator("#stuck-note")).to_have_text(
        f"Submission {submission_id} is queued to be graded again."
    )
    await expect(stuck).to_have_text("Nothing is stuck.")
    for path in (
        f"/courses/{school.algebra}",
        f"/courses/{school.algebra}/assignments",
        f"/courses/{school.algebra}/assignments/{school.one}/edit",
    ):
        await page.goto(url + path)
        violations += await phone_problems(page, axe, "teacher" + path.replace("/", "-"))
    assert violations == [], "\n".join(violations)
