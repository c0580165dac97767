"""A run's live progress: throttled, resent while nothing changes, silent once closed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from gradeflow.events.service import TRANSIENT_PREFIX, _kept_key, user_channel
from gradeflow.grading.progress import LiveProgress
from gradeflow.grading.sandbox import RunProgress, TestResult
from gradeflow.infra.pubsub import MemoryPubSub


def progress_of(finished: int, total: int = 50) -> RunProgress:
    tests = tuple(TestResult(f"T.test_{i}", "passed", "") for i in range(finished))
    return RunProgress(total=total, finished=tests, running=None)


async def test_progress_is_throttled_and_nothing_is_sent_once_closed() -> None:
    pubsub = MemoryPubSub()
    async with pubsub.subscribe(user_channel(7)) as subscription:
        live = LiveProgress(
            pubsub, user_id=7, submission_id=3, generation=1, total=50, interval_s=0.1
        )
        live.start()
        await asyncio.sleep(0.15)  # claimed, waiting for a slot: "waiting" goes out
        started = time.monotonic()
        for finished in range(1, 51):  # a judge reporting far faster than the throttle
            live.update(progress_of(finished))
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)  # the throttle lets the latest through
        elapsed = time.monotonic() - started
        await live.close()
        live.update(progress_of(50))  # a late callback after the run ended
        await asyncio.sleep(0.05)

        messages = []
        inbox = subscription.inbox  # type: ignore[attr-defined]
        while not inbox.empty():
            messages.append(json.loads(inbox.get_nowait().removeprefix(TRANSIENT_PREFIX)))
    # At most one a throttle interval, whatever the load.
    assert 2 <= len(messages) <= elapsed / 0.1 + 2
    assert messages[0]["phase"] == "waiting"
    assert messages[-1]["phase"] == "running"
    assert messages[-1]["passed"] == 50
    assert {m["submission_id"] for m in messages} == {3}
    counts = [m["passed"] for m in messages]
    assert counts == sorted(counts)


async def test_a_run_shorter_than_the_throttle_sends_and_keeps_nothing() -> None:
    pubsub = MemoryPubSub()
    async with pubsub.subscribe(user_channel(7)) as subscription:
        live = LiveProgress(
            pubsub, user_id=7, submission_id=3, generation=1, total=2, interval_s=60
        )
        live.start()
        await asyncio.sleep(0)
        live.update(progress_of(1, total=2))
        live.update(progress_of(2, total=2))
        await live.close()
        assert subscription.inbox.empty()  # type: ignore[attr-defined]
    assert await pubsub.kept(_kept_key(7)) == []


async def test_the_latest_progress_is_sent_again_while_nothing_changes() -> None:
    pubsub = MemoryPubSub()
    async with pubsub.subscribe(user_channel(7)) as subscription:
        live = LiveProgress(
            pubsub,
            user_id=7,
            submission_id=3,
            generation=0,
            total=2,
            interval_s=0.01,
            heartbeat_s=0.05,
        )
        live.start()
        live.update(progress_of(1, total=2))
        received = []
        async with asyncio.timeout(10):
            async for message in subscription.messages():
                received.append(json.loads(message.removeprefix(TRANSIENT_PREFIX)))
                if sum(1 for m in received if m["passed"] == 1) >= 3:
                    break
        await live.close()
    assert received[-1] == received[-2]


async def test_the_latest_progress_is_kept_for_new_streams_until_the_run_closes() -> None:
    pubsub = MemoryPubSub()
    live = LiveProgress(pubsub, user_id=7, submission_id=3, generation=0, total=2, interval_s=0.01)
    live.start()
    live.update(progress_of(1, total=2))
    for _ in range(1000):
        if any('"passed":1' in m for m in await pubsub.kept(_kept_key(7))):
            break
        await asyncio.sleep(0.01)
    [kept] = await pubsub.kept(_kept_key(7))
    assert json.loads(kept.removeprefix(TRANSIENT_PREFIX))["submission_id"] == 3
    await live.close()
    assert await pubsub.kept(_kept_key(7)) == []


async def test_kept_messages_expire() -> None:
    pubsub = MemoryPubSub()
    await pubsub.keep("k", "a", "old", ttl_s=0.01)
    await pubsub.keep("k", "b", "new", ttl_s=60)
    await asyncio.sleep(0.05)
    assert await pubsub.kept("k") == ["new"]
    await pubsub.drop("k", "b")
    assert await pubsub.kept("k") == []


async def first_message(
    inbox: asyncio.Queue[str], matching: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The first progress message in ``inbox`` that ``matching`` accepts (of at most
    a thousand, each within 10 s)."""
    for _ in range(1000):
        message = json.loads(
            (await asyncio.wait_for(inbox.get(), 10)).removeprefix(TRANSIENT_PREFIX)
        )
        if matching(message):
            return message  # type: ignore[no-any-return]
    raise AssertionError("no such message")


async def test_a_run_waiting_for_a_slot_says_its_place_in_the_graders_line() -> None:
    pubsub = MemoryPubSub()
    waiting_behind = [2]  # two runs get a slot first, then none
    async with pubsub.subscribe(user_channel(7)) as subscription:
        live = LiveProgress(
            pubsub,
            user_id=7,
            submission_id=3,
            generation=1,
            total=4,
            interval_s=0.01,
            heartbeat_s=0.01,
            ahead=lambda: waiting_behind[0],
        )
        live.start()
        inbox = subscription.inbox  # type: ignore[attr-defined]
        first = await first_message(inbox, lambda _: True)
        waiting_behind[0] = 0
        moved_up = await first_message(inbox, lambda m: m.get("position") == 1)
        live.update(progress_of(1, total=4))
        running = await first_message(inbox, lambda m: m["phase"] == "running")
        await live.close()
    assert (first["phase"], first["position"]) == ("waiting", 3)
    assert moved_up["phase"] == "waiting"
    assert "position" not in running
