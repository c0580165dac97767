"""A teacher dry-runs a grade file in the browser, reads what would change, applies
it, and finds the grades in the gradebook."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import User
from gradeflow.db import transaction, utcnow
from gradeflow.grades import imports
from gradeflow.grades.models import GradeUpload, UploadStatus
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
    await until_applied_and_reloaded(page)

    await page.goto(f"{live_server.url}/courses/{school.algebra}/gradebook")
    book = GradebookPage(page)
    await expect(book.rows).to_have_count(3)
    await expect(book.rows.filter(has_text="bob@example.org")).to_contain_text("72")
    await expect(book.header("quiz-1")).to_be_visible()


# Each of an element's lines as the browser laid it out: its text's rectangles, by top.
LINES_OF_TEXT = """cell => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  return new Set(Array.from(range.getClientRects(), (rect) => Math.round(rect.top))).size;
}"""


async def test_the_numbers_in_the_uploads_list_never_break_across_lines(
    live_server: LiveServer,
    page: Page,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    school = await build_school(session_factory)
    async with transaction(session_factory) as session:
        # A course's 1234th upload, of a file named as exported from a spreadsheet.
        session.add(
            GradeUpload(
                id=1234,
                course_id=school.algebra,
                uploaded_by_id=school.ids["teacher"],
                filename="algebra-section-b-midterm-grades-exported-from-the-spreadsheet-v2.csv",
                size=1,
                sha256="0" * 64,
                dry_run=True,
                status=UploadStatus.rejected,
                rows_total=34,
                rows_done=34,
                errors_total=34,
            )
        )
    uploads = f"/courses/{school.algebra}/grade-uploads"
    await SignInPage(page).sign_in(live_server.url, "teacher@example.org", PASSWORD, uploads)
    for width in (PHONE["width"], 1024):
        await page.set_viewport_size({"width": width, "height": 740})
        await page.goto(live_server.url + uploads)
        row = page.get_by_test_id("uploads").locator("tbody tr")
        await expect(row).to_have_count(1)
        cells = row.locator("td")
        # The upload's number, its rows, changes and errors.
        numbers = [cells.nth(0), cells.nth(3), cells.nth(4), cells.nth(5)]
        assert [await cell.inner_text() for cell in numbers] == ["1234", "34", "0", "34"]
        for cell in numbers:
            text = await cell.inner_text()
            assert await cell.evaluate(LINES_OF_TEXT) == 1, f"{text} breaks at {width} px"
        # The long file name still wraps rather than widening the page.
        assert await cells.nth(1).evaluate(LINES_OF_TEXT) > 1
        page_width = await page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= width, f"the page is {page_width} px wide at {width} px"
        await page.screenshot(
            path=screenshot_path(tmp_path, f"grade-uploads-{width}.png"), full_page=True
        )


async def test_a_teacher_enrols_a_roster_file_on_the_course_page(
    live_server: LiveServer,
    page: Page,
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    school = await build_school(session_factory)
    course = f"/courses/{school.algebra}"
    await SignInPage(page).sign_in(live_server.url, "teacher@example.org", PASSWORD, course)
    form = page.get_by_test_id("roster-form")
    students = page.get_by_test_id("students").locator("tbody tr")
    await expect(students).to_have_count(3)

    bad = tmp_path / "roster-with-a-typo.csv"
    bad.write_text("Student,Name\noutsider@example.org,Out\nnobdy@example.org,Typo\n")
    await form.get_by_label("Roster file").set_input_files(bad)
    await form.get_by_role("button", name="Enrol all").click()
    result = page.get_by_test_id("roster-result")
    await expect(result).to_contain_text("nobody was enrolled")
    await expect(page.get_by_test_id("roster-errors").locator("tbody tr")).to_have_text(
        [re.compile(r"^3\s*No account has the email or student number 'nobdy@example.org'")]
    )
    await expect(students).to_have_count(3)
    await page.screenshot(path=screenshot_path(tmp_path, "roster-errors.png"), full_page=True)

    good = tmp_path / "roster.csv"
    good.write_text("Student,Name\noutsider@example.org,Out\nalice@example.org,Alice\n")
    await form.get_by_label("Roster file").set_input_files(good)
    await form.get_by_role("button", name="Enrol all").click()
    await expect(result).to_have_text("roster.csv: 2 rows read · 1 enrolled · 1 already enrolled.")
    await expect(students).to_have_count(4)
    await expect(students.filter(has_text="outsider@example.org")).to_have_count(1)
    await page.screenshot(path=screenshot_path(tmp_path, "roster-enrolled.png"), full_page=True)


async def until_applied_and_reloaded(page: Page) -> None:
    """Wait until the page has shown the import applied and reloaded itself.

    The live page reloads when the import ends; a navigation of the test's own started
    before that reload would be aborted by it. The revert button is only in the reloaded
    document, so once it shows, the page's reload has happened.
    """
    await expect(page.get_by_test_id("upload-status")).to_have_text("applied")
    await expect(page.get_by_test_id("revert")).to_have_count(1)
    await page.wait_for_load_state("load")


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
    await until_applied_and_reloaded(page)
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
