"""Playwright for Python driving Debian's Chromium (its own browser download is not used)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, async_playwright


def chromium_path() -> str:
    found = os.environ.get("GRADEFLOW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(found):
        pytest.fail(
            f"Chromium not found at {found}; run `make test` (it installs Debian's chromium)"
        )
    return found


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = await browser.new_context()
        page = await context.new_page()
        page.set_default_timeout(20_000)
        yield page
        await context.close()
        await browser.close()
