"""Live progress in a real browser: tests ticked off while the run goes on, and a
queued submission's place in the queue while the graders are busy."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from gradeflow.app import create_app
from gradeflow.settings import Settings
from tests.conftest import LiveServer, import_course_dir
from tests.e2e.pages import PracticePage
from tests.e2e.test_editor import screenshot
from tests.factories import write_assignment

pytestmark = pytest.mark.browser

# The third test sleeps in the tests themselves (student code cannot slow the judge's
# reports): long enough for the page to see the first two ticked off while it runs,
# and the heartbeat of progress resends it meanwhile, so nothing hinges on timing.
SLOW_TESTS = """
import time
import unittest

from counter import count_words


class CountTest(unittest.TestCase):
    def test_1_counts_one_word(self):
        self.assertEqual(count_words("hello"), 1)

    def test_2_counts_two_words(self):
        self.assertEqual(count_words("hello world"), 2)

    def test_3_takes_its_time(self):
        time.sleep(SLEEP_S)
        self.assertEqual(count_words(""), 0)

    def test_4_counts_spaces_once(self):
        self.assertEqual(count_words("a  b"), 2)
"""
SOLUTION = "def count_words(text):\n    return len(text.split())\n"


def slow_course(root: Path, *, sleep_s: float) -> Path:
    course = root / "slow"
    course.mkdir(parents=True)
    (course / "course.toml").write_text('title = "Slow"\ndescription = "Takes its time."\n')
    write_assignment(
        course,
        "counter",
        title="Count words",
        toml_extra='module = "counter"\ntime_limit_s = 20\npoints = 10\n',
        tests=SLOW_TESTS.replace("SLEEP_S", str(sleep_s)),
        solution=SOLUTION,
        starter="def count_words(text):\n    pass\n",
    )
    return course


async def test_per_test_progress_is_visible_while_a_slow_test_runs(
    settings: Settings, tmp_path: Path, page: Page
) -> None:
    await import_course_dir(settings, slow_course(tmp_path / "courses", sleep_s=3))
    with LiveServer(create_app(settings)) as server:
        practice = await PracticePage(page).open(server.url)
        await expect(practice.title).to_have_text("Count words")
        await practice.write(SOLUTION)
        await practice.submit()

        progress = page.get_by_test_id("progress")
        await expect(progress.get_by_test_id("progress-summary")).to_have_text(
            "2 of 4 tests passed so far"
        )
        await expect(practice.status).to_have_text(
            "Running your tests — 2 of 4 tests passed so far."
        )
        ticked = progress.locator("li[data-outcome=passed]")
        await expect(ticked).to_have_count(2)
        await expect(ticked.first).to_contain_text("counts one word")
        running = progress.locator("li[data-outcome=running]")
        await expect(running).to_have_attribute("data-test-id", "CountTest.test_3_takes_its_time")
        await screenshot(page, "progress-running")

        # The final result replaces the progress, and no late progress brings it back.
        await expect(practice.status).to_have_attribute("data-status", "passed")
        await expect(progress).to_be_hidden()
        await expect(practice.tests).to_have_count(4)
        await expect(practice.points).to_have_text("10")


async def test_a_queued_submission_shows_its_position_while_the_graders_are_busy(
    settings: Settings, tmp_path: Path, page: Page
) -> None:
    # One slot and one claimed ahead (the default claims sixteen a slot ahead): two
    # runs of other students keep the grader busy.
    settings = settings.model_copy(update={"grader_slots": 1, "grader_claim_ahead": 1})
    await import_course_dir(settings, slow_course(tmp_path / "courses", sleep_s=3))
    with LiveServer(create_app(settings)) as server:
        practice = await PracticePage(page).open(server.url)
        await expect(practice.title).to_have_text("Count words")
        path = await page.locator(".assignments li.current a").get_attribute("href")
        for _ in range(2):
            async with httpx.AsyncClient(base_url=server.url) as other:
                assert (await other.post("/api/session")).status_code == 200
                response = await other.post(
                    f"/api{path}/submissions", json={"code": SOLUTION}, timeout=20
                )
                assert response.status_code == 202, response.text

        await practice.write(SOLUTION)
        await practice.submit()
        await expect(practice.status).to_have_text(
            re.compile(r"^Queued — position \d+ in the queue(, about .+ to wait)?\.$")
        )
        await expect(practice.submit_button).to_be_disabled()
        await screenshot(page, "queue-position")
        # Claimed while the other run is still in the slot: not "running" yet, and
        # first in that grader's line for the slot.
        await expect(practice.status).to_have_text(
            "Taken by a grader — waiting for a free slot — position 1…"
        )
        await expect(practice.status).to_have_text(re.compile(r"^Running your tests — "))
        await expect(practice.status).to_have_attribute("data-status", "passed", timeout=60_000)
        await expect(practice.points).to_have_text("10")
