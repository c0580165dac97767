"""Playwright for Python driving Debian's Chromium (its own browser download is not used)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.conftest import sqlite_copy

# Assertions wait as long as actions do: a grading run on a loaded 2-core CI machine
# can take longer than Playwright's 5 s default, and a test must not fail for that.
expect.set_options(timeout=20_000)


def chromium_path() -> str:
    found = os.environ.get("GRADEFLOW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(found):
        pytest.fail(
            f"Chromium not found at {found}; run `make test` (it installs Debian's chromium)"
        )
    return found


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """Browser tests use SQLite only; both databases are covered by the tests below the UI."""
    return sqlite_copy(sqlite_template, tmp_path)


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
