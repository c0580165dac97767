"""Playwright for Python driving Debian's Chromium (its own browser download is not used)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Error, Page, async_playwright, expect

from tests.conftest import sqlite_copy

# Assertions wait as long as actions do: a grading run on a loaded 2-core CI machine
# can take longer than Playwright's 5 s default, and a test must not fail for that.
expect.set_options(timeout=20_000)


# Screenshots of failed tests, for a person to look at (git-ignored; `make test` says
# where they are when tests fail). Emptied when a run's first browser test starts.
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "e2e"
# Which run emptied the directory (the Makefile looks for any other file).
RUN_MARKER = ".run"
FAILED = pytest.StashKey[bool]()
MAX_PAGES_KEPT = 10


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Note on the test whether its set-up or body failed, for the ``page`` fixture's
    teardown, which runs after this report is made."""
    report = yield
    if report.when in ("setup", "call") and report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Emptied once a run, by the first pytest process of the run to need it: the
    processes of one ``make test`` (pytest-xdist) share the run's id."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
    marker = ARTIFACTS / RUN_MARKER
    try:
        emptied_for = marker.read_text()
    except OSError:
        emptied_for = None
    if emptied_for != run:
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        marker.write_text(run)
    return ARTIFACTS


async def keep_failure_artifacts(browser: Browser, directory: Path) -> None:
    """A full-page screenshot of every page open in ``browser``, and ``pages.txt``
    with each one's URL (Playwright makes the directory)."""
    pages = [page for context in browser.contexts for page in context.pages]
    lines = []
    for number, page in enumerate(pages[:MAX_PAGES_KEPT], start=1):
        name = f"page-{number}.png"
        try:
            await page.screenshot(path=str(directory / name), full_page=True)
        except Error as exc:  # a crashed or closed page: its URL is still worth keeping
            name = f"(no screenshot: {str(exc).splitlines()[0]})"
        lines.append(f"{name} {page.url}\n")
    await asyncio.to_thread(write_lines, directory / "pages.txt", lines)


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


def artifact_name(nodeid: str) -> str:
    """A test's id as a directory name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.removeprefix("tests/e2e/"))[:150]


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
async def page(request: pytest.FixtureRequest, artifacts_dir: Path) -> AsyncIterator[Page]:
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
        if request.node.stash.get(FAILED, False):
            await keep_failure_artifacts(
                browser, artifacts_dir / artifact_name(request.node.nodeid)
            )
        await context.close()
        await browser.close()


AXE = Path(__file__).parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def axe() -> Path:
    """axe-core's script, for ``test_accessibility.serious_violations``."""
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed ({AXE} is missing): run `make install`")
    return AXE
