"""A teacher dry-runs a grade file in the browser, reads what would change, applies
it, and finds the grades in the gradebook."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import User
from gradeflow.db import transaction, utcnow
from gradeflow.grades import imports
from gradeflow.grades.models import GradeUpload
from tests.conftest import LiveServer
from tests.e2e.pages import GradebookPage, SignInPage
from tests.e2e.test_accessibility import PHONE, phone_problems, serious_violations
from tests.e2e.test_gradebook import screenshot_path
from tests.factories import PASSWORD, memory_outbox
from tests.grades.conftest import build_school

pytestmark = pytest.mark.browser

# Every value the upload page's progress bar takes, kept across its own reload.
RECORD_PROGRESS = """
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.getElementById("upload-progress");
  if (!bar) return;
  const record = () => {
    const seen = JSON.parse(sessionStorage.getItem("rows-done") || "[]");
    seen.push(Number(bar.value));
    sessionStorage.setItem("rows-done", JSON.stringify(seen));
  };
  record();
  new MutationObserver(record).observe(bar, { attributes: true });
});
"""


async def test_a_teacher_dry_runs_then_applies_a_grade_file(
    live_server: LiveServer,
    page: Page,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    axe: Path,
) -> None:
    school = await build_school(session_factory)
    grades = tmp_path / "quiz.csv"
    # Semicolons, a BOM, CRLF, a student number and a letter: as spreadsheets save it.
    grades.write_bytes(
        "\ufeffStudent ; Grade ; Assessment\r\nbob@example.org;72;quiz-1\r\nS1;A;quiz-1\r\n".encode()
    )
    uploads = f"/courses/{school.algebra}/grade-uploads"
    await SignInPage(page).sign_in(live_server.url, "teacher@example.org", PASSWORD, uploads)
    form = page.get_by_test_id("upload-form")

    # A file with mistakes first: every row error is listed by row and column, and
    # nothing is applied. The progress the page shows only ever moves forward.
    await page.add_init_script(RECORD_PROGRESS)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "student,grade,assessment\nbob@example.org,72,quiz-1\n"
        "nobody@example.org,50,quiz-1\nS1,banana,quiz-1\n"
    )
    await form.locator("input[type=file]").set_input_files(bad)
    await form.get_by_role("button", name="Upload").click()
    status = page.get_by_test_id("upload-status")
    await expect(status).to_have_text("rejected")
    errors = page.get_by_test_id("upload-errors").locator("tbody tr")
    await expect(errors).to_have_count(2)
    await expect(errors.nth(0)).to_contain_text("3")
    await expect(errors.nth(0)).to_contain_text("nobody@example.org")
    await expect(errors.nth(1)).to_contain_text("4")
    await expect(errors.nth(1)).to_contain_text("banana")
    await expect(page.locator("#upload-phase")).to_contain_text("3 of 3 rows")
    seen: list[int] = await page.evaluate("JSON.parse(sessionStorage.getItem('rows-done') || '[]')")
    # Here it was [0, 0, 3, 3, 3]: opened while queued, moved on live, reloaded once done.
    assert seen == sorted(seen), seen
    assert seen[-1] == 3, seen
    violations = await serious_violations(page, axe)
    await page.set_viewport_size(PHONE)
    violations += await phone_problems(page, axe, "grade-upload-errors")
    assert violations == [], "\n".join(violations)
    await page.set_viewport_size({"width": 1280, "height": 720})
    await page.goto(live_server.url + uploads)
    await form.locator("input[type=file]").set_input_files(grades)
    await form.get_by_role("button", name="Upload").click()

    await expect(status).to_have_text("validated")
    changes = page.get_by_test_id("upload-changes").locator("tbody tr")
    await expect(changes).to_have_count(2)
    await expect(changes.filter(has_text="alice@example.org")).to_contain_text("A (95)")
    await expect(changes.filter(has_text="bob@example.org")).to_contain_text("72")
    await page.screenshot(path=screenshot_path(tmp_path, "grade-upload.png"), full_page=True)

    await page.get_by_test_id("apply").click()
    await expect(status).to_have_text("applied")

    await page.goto(f"{live_server.url}/courses/{school.algebra}/gradebook")
    book = GradebookPage(page)
    await expect(book.rows).to_have_count(3)
    await expect(book.rows.filter(has_text="bob@example.org")).to_contain_text("72")
    await expect(book.header("quiz-1")).to_be_visible()


async def test_the_upload_page_follows_a_revert_live(
    live_server: LiveServer,
    page: Page,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    school = await build_school(session_factory)
    grades = tmp_path / "chain.csv"
    grades.write_text("student,grade,assessment\nbob@example.org,10,chain2\nS1,20,chain2\n")
    uploads = f"/courses/{school.algebra}/grade-uploads"
    await SignInPage(page).sign_in(live_server.url, "teacher@example.org", PASSWORD, uploads)
    form = page.get_by_test_id("upload-form")
    await form.locator("input[type=file]").set_input_files(grades)
    await form.get_by_role("button", name="Upload").click()
    status = page.get_by_test_id("upload-status")
    message = page.get_by_test_id("upload-message")
    await expect(status).to_have_text("validated")
    await page.get_by_test_id("apply").click()
    await expect(status).to_have_text("applied")
    upload_id = int(page.url.rstrip("/").rsplit("/", 1)[1])

    # The revert is asked for as the button does, but its job goes to a queue no worker
    # reads: it waits, deterministically, until the sweeper sends it again below.
    async with transaction(session_factory) as session:
        upload = await session.get_one(GradeUpload, upload_id)
        teacher = await session.get_one(User, school.ids["teacher"])
        await imports.request_revert(
            session,
            outbox=memory_outbox(session_factory),
            upload=upload,
            user=teacher,
            force=False,
        )
    await page.reload()
    await expect(status).to_have_text("applied · revert queued")
    await expect(message).to_have_text("Revert queued.")
    await expect(page.get_by_test_id("revert")).to_have_count(0)
    await page.screenshot(path=screenshot_path(tmp_path, "grade-upload-revert-queued.png"))

    # As if its message was lost a while ago: the live server's sweeper publishes it.
    async with transaction(session_factory) as session:
        await session.execute(
            update(GradeUpload)
            .where(GradeUpload.id == upload_id)
            .values(published_at=None, revert_requested_at=utcnow() - dt.timedelta(minutes=1))
        )
    # No reload by the test: the page hears the revert's events and shows its end.
    await expect(message).to_have_text(
        "Reverted: 2 grades put back as they were before this upload.", timeout=20_000
    )
    await expect(status).to_have_text("applied")
    await expect(page.get_by_test_id("revert")).to_have_count(0)
    await page.screenshot(path=screenshot_path(tmp_path, "grade-upload-reverted.png"))
