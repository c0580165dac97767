"""The priority gate in front of the sandbox slots."""

from __future__ import annotations

import asyncio

from gradeflow.infra.slots import PriorityGate


async def test_waiters_get_in_by_priority_then_in_the_order_they_came() -> None:
    gate = PriorityGate(1)
    entered: list[str] = []
    release = asyncio.Event()

    async def work(name: str, priority: int) -> None:
        async with gate.hold(priority=priority):
            entered.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(work("first", 1))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(work(name, priority))
        for name, priority in [
            ("bulk-1", 1),
            ("bulk-2", 1),
            ("interactive-1", 5),
            ("interactive-2", 5),
        ]
    ]
    await asyncio.sleep(0)
    assert entered == ["first"]
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *waiting), 10)
    assert entered == ["first", "interactive-1", "interactive-2", "bulk-1", "bulk-2"]


async def test_a_cancelled_waiter_gives_its_turn_to_the_next() -> None:
    gate = PriorityGate(1)
    release = asyncio.Event()
    entered: list[str] = []

    async def work(name: str, priority: int) -> None:
        async with gate.hold(priority=priority):
            entered.append(name)
            await release.wait()

    holder = asyncio.create_task(work("holder", 1))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(work("cancelled", 5))
    patient = asyncio.create_task(work("patient", 1))
    await asyncio.sleep(0)
    cancelled.cancel()
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, patient), 10)
    assert entered == ["holder", "patient"]
    assert cancelled.cancelled()
    # Every turn came back: two can go in one after the other at once.
    async with asyncio.timeout(10):
        async with gate.hold(priority=1):
            pass


async def test_a_waiters_place_counts_who_gets_in_first() -> None:
    gate = PriorityGate(1)
    release = asyncio.Event()
    places = {
        name: gate.place(priority)
        for name, priority in [("holder", 1), ("bulk", 1), ("early", 5), ("late", 5)]
    }

    async def work(name: str) -> None:
        async with places[name].hold():
            await release.wait()

    holder = asyncio.create_task(work("holder"))
    await asyncio.sleep(0)
    assert places["holder"].ahead() is None  # in at once: not waiting
    waiting = [asyncio.create_task(work(name)) for name in ("bulk", "early", "late")]
    await asyncio.sleep(0)
    # Interactive runs go ahead of the bulk one that came first.
    assert {name: places[name].ahead() for name in ("bulk", "early", "late")} == {
        "bulk": 2,
        "early": 0,
        "late": 1,
    }
    waiting[1].cancel()  # "early" gives up: the others move up
    await asyncio.sleep(0)
    assert places["late"].ahead() == 0
    assert places["bulk"].ahead() == 1
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, waiting[0], waiting[2]), 10)
    assert all(place.ahead() is None for place in places.values())
