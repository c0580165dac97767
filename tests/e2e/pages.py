"""Page objects: what a student sees and does, named as they would name it."""

from __future__ import annotations

from playwright.async_api import Locator, Page


class PracticePage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.title: Locator = page.locator("#assignment-title")
        self.editor: Locator = page.locator("#code")
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
        await self.editor.fill(code)

    async def submit(self) -> None:
        await self.submit_button.click()

    def test_result(self, test_id: str) -> Locator:
        return self.tests.filter(has_text=test_id)


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
