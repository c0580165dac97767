"""Diagnosis: how long a submit takes through the stack while K event streams are open.

Usage: ``PYTHONPATH=src .venv/bin/python bench/sse_submit.py [--streams 0 200] [--submits 10]``

For each K: K anonymous students each hold ``/api/events`` open (as the Locust
students do), then ``--submits`` other students submit one after another; prints
each submit's POST time (p50, max).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from stack_tools import log, running_stack

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "python-basics"


async def student(url: str) -> tuple[httpx.AsyncClient, dict[str, object]]:
    client = httpx.AsyncClient(base_url=url, timeout=60)
    response = await client.get("/api/practice")
    response.raise_for_status()
    return client, response.json()


async def hold_stream(client: httpx.AsyncClient, opened: asyncio.Event) -> None:
    async with client.stream("GET", "/api/events") as stream:
        opened.set()
        async for _ in stream.aiter_lines():
            pass


async def measure(url: str, *, streams: int, submits: int) -> list[float]:
    holders = [await student(url) for _ in range(streams)]
    events = [asyncio.Event() for _ in holders]
    tasks = [
        asyncio.create_task(hold_stream(c, e)) for (c, _), e in zip(holders, events, strict=True)
    ]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), timeout=60)
    times = []
    for n in range(submits):
        client, state = await student(url)
        assignment = state["assignment"]
        assert isinstance(assignment, dict)
        started = time.perf_counter()
        answer = await client.post(
            f"/api/assignments/{assignment['id']}/submissions",
            json={"code": f"print(1)\n# {n} {time.time_ns()}\n"},
        )
        times.append(time.perf_counter() - started)
        if answer.status_code != 202:
            log(f"  submit answered {answer.status_code}: {answer.text[:200]}")
        await client.aclose()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client, _ in holders:
        await client.aclose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, nargs="+", default=[0, 200])
    parser.add_argument("--submits", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp), DEMO) as stack:
        for _ in range(args.rounds):
            for k in args.streams:
                times = asyncio.run(measure(stack.url, streams=k, submits=args.submits))
                log(
                    f"streams open {k:4d}: submit p50 {statistics.median(times) * 1000:8.1f} ms,"
                    f" max {max(times) * 1000:8.1f} ms ({len(times)} submits)"
                )


if __name__ == "__main__":
    main()
