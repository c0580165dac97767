"""The per-process read cache: namespaces, versions taken before a load, expiry and
catching up after missed purges (pub/sub in one process here; across processes in
tests/services/test_adapters.py)."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Awaitable, Callable

from gradeflow.infra.cache import (
    ENTRY_OVERHEAD_BYTES,
    MAX_OBJECTS_MEASURED,
    PURGE_CHANNEL,
    Cache,
    cached,
    cached_as_is,
    size_of,
)
from gradeflow.infra.pubsub import CATCH_UP, INBOX_SIZE, MemoryPubSub


def value(result: object) -> Callable[[], Awaitable[object]]:
    async def load() -> object:
        return result

    return load


async def test_a_purge_drops_its_namespaces_only() -> None:
    cache = Cache(ttl_s=60)
    assert await cached(cache, "user:1", "progress", value({"points": 5})) == {"points": 5}
    assert await cached(cache, ("user:2", "grades"), "mine", value([2])) == [2]
    assert await cached(cache, "user:1", "progress", value({"points": 6})) == {"points": 5}
    await cache.purge("grades")
    assert await cached(cache, "user:1", "progress", value({"points": 6})) == {"points": 5}
    # A value under several namespaces goes with any one of them.
    assert await cached(cache, ("user:2", "grades"), "mine", value([3])) == [3]


async def test_each_caller_gets_its_own_copy_of_a_json_value() -> None:
    cache = Cache(ttl_s=60)
    first = await cached(cache, "assignments", "list", value([{"id": 1}]))
    first.append({"id": 2})
    assert await cached(cache, "assignments", "list", value([])) == [{"id": 1}]


async def test_a_value_loaded_while_a_purge_lands_is_not_kept() -> None:
    cache = Cache(ttl_s=60)

    async def load_racing_a_write() -> object:
        # The load read the old row; the write commits and purges before it is stored.
        await cache.purge("user:1")
        return {"points": "old"}

    assert await cached(cache, "user:1", "progress", load_racing_a_write) == {"points": "old"}
    assert await cached(cache, "user:1", "progress", value({"points": "new"})) == {"points": "new"}


async def test_values_expire_after_their_ttl() -> None:
    cache = Cache(ttl_s=0.05)
    assert await cached_as_is(cache, ("me",), "body", value(b"one")) == b"one"  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    assert await cached_as_is(cache, ("me",), "body", value(b"two")) == b"two"  # type: ignore[arg-type]


async def test_the_least_recently_used_values_make_room_within_the_byte_bound() -> None:
    one_entry = (
        size_of(b"x" * 100) + size_of(((("n",), (0, 0), "a"), 0.0, 0)) + ENTRY_OVERHEAD_BYTES
    )
    cache = Cache(ttl_s=60, max_bytes=2 * one_entry + one_entry // 2)
    for key in ("a", "b", "c"):
        await cached_as_is(cache, ("n",), key, value(b"x" * 100))  # type: ignore[arg-type]
    assert cache.get(("n",), "a") is None
    assert cache.get(("n",), "c") is not None
    assert cache.held_bytes == 2 * one_entry
    await cached_as_is(cache, ("n",), "huge", value(b"x" * 3 * one_entry))  # type: ignore[arg-type]
    assert cache.get(("n",), "huge") is None  # larger than the bound: never kept
    assert cache.held_bytes == 2 * one_entry


def assignment_list(number: int) -> tuple[dict[str, object], ...]:
    """What ``practice_summaries`` keeps as it is: a tuple of nested dicts."""
    return tuple(
        {"id": i, "title": f"Assignment {number}-{i}", "course": {"id": number, "slug": f"c{i}"}}
        for i in range(50)
    )


async def test_values_that_are_not_text_count_what_they_really_hold() -> None:
    # Measured by tracemalloc, not by size_of: the memory the cache's entries keep
    # alive stays within its budget, whatever kind of values they are.
    budget = 256 * 1024
    cache = Cache(ttl_s=60, max_bytes=budget)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for number in range(400):  # about 40 budgets' worth
            await cached_as_is(
                cache, ("assignments",), f"list:{number}", value(assignment_list(number))
            )
            await cached_as_is(cache, ("me",), f"body:{number}", value(f"{number}".encode() * 300))  # type: ignore[arg-type]
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert 0 < cache.held_bytes <= budget
    assert held <= budget, f"{held} bytes kept for a budget of {budget}"
    assert size_of(assignment_list(1)) > 50 * 200  # no flat estimate


async def test_stale_entries_go_once_expired_without_being_read() -> None:
    cache = Cache(ttl_s=0.05)
    await cached_as_is(cache, ("assignments",), "list", value(assignment_list(1)))
    await cache.purge("assignments")  # the entry above is now never read again
    await asyncio.sleep(0.1)
    await cached_as_is(cache, ("me",), "body", value(b"new"))  # type: ignore[arg-type]
    assert cache.held_bytes == cache._entries[(("me",), (0, 0), "body")][2]


def test_measuring_a_value_is_bounded() -> None:
    huge = list(range(MAX_OBJECTS_MEASURED + 10))
    assert size_of(huge) > 2**60  # too many objects to measure: never kept


async def test_purges_from_other_processes_arrive_by_pubsub_and_a_catch_up_empties_it() -> None:
    pubsub = MemoryPubSub()
    cache = Cache(ttl_s=60, pubsub=pubsub)
    await cache.start()
    try:
        assert cache.live()
        await cached(cache, "user:1", "progress", value(1))
        await cached(cache, "user:2", "progress", value(2))
        await pubsub.publish(PURGE_CHANNEL, "another-process user:1 user:3")
        await asyncio.sleep(0)
        assert cache.get(("user:1",), "progress") is None
        assert cache.get(("user:2",), "progress") == "2"
        await pubsub.publish(PURGE_CHANNEL, CATCH_UP)
        await asyncio.sleep(0)
        assert cache.get(("user:2",), "progress") is None
    finally:
        await cache.close()


async def test_a_purge_reaches_the_other_processes_and_its_echo_spares_what_was_loaded_since() -> (
    None
):
    pubsub = MemoryPubSub()
    here, there = Cache(ttl_s=60, pubsub=pubsub), Cache(ttl_s=60, pubsub=pubsub)
    await here.start()
    await there.start()
    try:
        await cached(there, "user:1", "progress", value(1))
        await here.purge("user:1")
        # Loaded again after the write, before pub/sub brings the purge back here.
        await cached(here, "user:1", "progress", value(2))
        for _ in range(3):
            await asyncio.sleep(0)
        assert here.get(("user:1",), "progress") == "2"
        assert there.get(("user:1",), "progress") is None
    finally:
        await here.close()
        await there.close()


async def test_a_listener_too_far_behind_is_told_to_catch_up_instead_of_losing_purges() -> None:
    pubsub = MemoryPubSub()
    cache = Cache(ttl_s=60, pubsub=pubsub)
    await cache.start()
    try:
        assert cache.live()
        late = f"user:{INBOX_SIZE}"
        await cached(cache, late, "progress", value(0))
        # More purges than its inbox holds arrive before it runs again: the one
        # for ``late`` finds the inbox full.
        for n in range(INBOX_SIZE + 5):
            await pubsub.publish(PURGE_CHANNEL, f"another-process user:{n}")
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert cache.get((late,), "progress") is None
    finally:
        await cache.close()
