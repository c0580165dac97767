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
