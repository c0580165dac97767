"""Page objects: what a student sees and does, named as they would name it."""

from __future__ import annotations

from playwright.async_api import Locator, Page, expect


class PracticePage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.title: Locator = page.locator("#assignment-title")
        # The form field: the CodeMirror editor keeps it up to date (hidden), and it is
        # the editor itself where the bundle is missing.
        self.editor: Locator = page.locator("#code")
        self.code_editor: Locator = page.get_by_test_id("editor")
        self.problem_line: Locator = page.get_by_test_id("problem-line")
        self.reset_button: Locator = page.locator("#reset-starter")
        self.draft_note: Locator = page.locator("#draft-note")
        self.submit_button: Locator = page.locator("#submit")
        self.status: Locator = page.locator("#status")
        self.points: Locator = page.locator("#points")
        self.user_id: Locator = page.locator("#user-id")
        self.tests: Locator = page.locator("[data-testid=tests] li")
        self.success: Locator = page.locator("[data-testid=success]")
        self.next_link: Locator = page.locator("[data-testid=next-link]")

    async def open(self, base_url: str) -> PracticePage:
        await self.page.goto(base_url + "/")
        return self

    async def write(self, code: str) -> None:
        """Replace the code as a paste would (typed text would be auto-indented)."""
        await expect(self.title).not_to_be_empty()
        if await self.page.evaluate("document.body.dataset.editor") != "codemirror":
            await self.editor.fill(code)
            return
        await self.code_editor.click()
        await self.page.keyboard.press("ControlOrMeta+a")
        if code:
            await self.page.keyboard.insert_text(code)
        else:
            await self.page.keyboard.press("Delete")
        await expect(self.editor).to_have_value(code)

    async def submit(self) -> None:
        await self.submit_button.click()

    def test_result(self, test_id: str) -> Locator:
        """A test's line in the feedback (it shows the test as a sentence, not its id)."""
        return self.page.locator(f'[data-testid=tests] li[data-test-id="{test_id}"]')


class SubmissionsPage:
    """The student's own submissions: live rows, one opened below, deletion."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.rows: Locator = page.locator("#submissions tbody tr[data-submission-id]")
        self.detail: Locator = page.locator("#submission-detail")
        self.detail_code: Locator = page.locator("#detail-code")
        self.detail_feedback: Locator = page.get_by_test_id("detail-feedback")
        self.note: Locator = page.locator("#submissions-note")
        self.points: Locator = page.locator("#points")

    async def open(self, base_url: str) -> SubmissionsPage:
        await self.page.goto(base_url + "/submissions")
        return self

    def row(self, submission_id: int) -> Locator:
        return self.page.locator(f'#submissions tr[data-submission-id="{submission_id}"]')

    async def view(self, submission_id: int) -> None:
        await self.page.get_by_role("button", name=f"View submission {submission_id}").click()

    async def delete(self, submission_id: int, *, confirm: bool) -> None:
        await self.page.get_by_role("button", name=f"Delete submission {submission_id}").click()
        dialog = self.page.get_by_role("dialog")
        await expect(dialog).to_be_visible()
        await dialog.get_by_role("button", name="Delete" if confirm else "Cancel").click()


class AuthoringPage:
    """A teacher's new/edit assignment form and its live check."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.preview: Locator = page.get_by_test_id("handout-preview")
        self.state: Locator = page.locator("#state")
        self.check_status: Locator = page.locator("#check-status")
        self.check_tests: Locator = page.locator("#check-feedback [data-testid=tests] li")
        self.save_button: Locator = page.locator("#save")

    async def open_new(self, base_url: str, course_id: int) -> AuthoringPage:
        await self.page.goto(f"{base_url}/courses/{course_id}/assignments/new")
        return self

    def field(self, name: str) -> Locator:
        return self.page.locator(f"[name={name}]")

    async def fill(self, **values: str) -> None:
        for name, value in values.items():
            await self.field(name).fill(value)

    async def add_support_file(self, path: str, content: str) -> None:
        await self.page.get_by_role("button", name="Add a support file").click()
        await self.page.locator(".support-file input").last.fill(path)
        await self.page.locator(".support-file textarea").last.fill(content)

    async def save(self) -> None:
        await self.save_button.click()


class SignInPage:
    def __init__(self, page: Page) -> None:
        self.page = page

    async def sign_in(self, base_url: str, email: str, password: str, next_path: str) -> None:
        await self.page.goto(f"{base_url}/sign-in?next={next_path}")
        await self.page.get_by_label("Email").fill(email)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Sign in").click()


class GradebookPage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.table: Locator = page.get_by_test_id("gradebook")
        self.rows: Locator = self.table.locator("tbody tr")
        self.history: Locator = page.get_by_test_id("history")
        self.csv_link: Locator = page.get_by_test_id("csv-link")
        self.scroll_box: Locator = page.get_by_test_id("gradebook-scroll")

    def header(self, name: str) -> Locator:
        return self.table.locator("thead th").filter(has_text=name).get_by_role("button")

    def cell_history_button(self, assessment: str, email: str) -> Locator:
        return self.page.get_by_role("button", name=f"History of {assessment} for {email}")

    async def first_column(self) -> list[str]:
        return await self.rows.locator("td:first-child").all_inner_texts()

    async def scrolls_sideways(self) -> bool:
        """Whether the table is wider than its scrolling box."""
        return bool(await self.scroll_box.evaluate("box => box.scrollWidth > box.clientWidth"))

    async def scroll_table_to_the_end(self) -> None:
        await self.scroll_box.evaluate("box => { box.scrollLeft = box.scrollWidth; }")


class RegradePreviewPage:
    """What a teacher sees while a regrade preview grades, and its deltas."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.status: Locator = page.get_by_test_id("preview-status")
        self.progress: Locator = page.get_by_test_id("progress")
        self.gainers: Locator = page.get_by_test_id("gainers")
        self.losers: Locator = page.get_by_test_id("losers")
        self.rows: Locator = page.locator("[data-testid=deltas] tbody tr")

    async def start(self, base_url: str, assignment_id: int) -> RegradePreviewPage:
        await self.page.goto(f"{base_url}/assignments/{assignment_id}/regrade-preview")
        await self.page.get_by_role("button", name="Preview regrade").click()
        return self

    def row(self, student: str) -> Locator:
        return self.rows.filter(has_text=student)

    async def apply(self, policy_label: str) -> None:
        await self.page.get_by_label(policy_label).check()
        await self.page.get_by_role("button", name="Apply").click()
