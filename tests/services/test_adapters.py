"""The RabbitMQ and Redis adapters on their own, against the real servers."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import closing

import httpx
import pytest

from gradeflow.grading.messages import PRIORITY_BULK, PRIORITY_INTERACTIVE, QUEUES
from gradeflow.infra.cache import Cache, cached
from gradeflow.infra.rabbitmq import RabbitQueue
from gradeflow.infra.redis import RedisPubSub
from gradeflow.settings import Settings
from tests.factories import ADDER_SOLUTION
from tests.services.conftest import (
    BROKER_URL,
    REDIS_URL,
    WebProcess,
    new_student,
    submit,
    wait_graded,
    worker_process,
)


async def test_interactive_jobs_overtake_queued_bulk_jobs(settings: Settings) -> None:
    queue = RabbitQueue(BROKER_URL, prefix=settings.queue_prefix, prefetch=1, queues=QUEUES)
    await queue.start()
    try:
        await asyncio.wait_for(queue.connected.wait(), 10)
        for i in range(3):
            await queue.publish("grading", f"bulk-{i}".encode(), priority=PRIORITY_BULK)
        await queue.publish("grading", b"interactive", priority=PRIORITY_INTERACTIVE)
        assert await queue.depth("grading") == 4
        received = []
        async for delivery in queue.consume("grading"):
            received.append(delivery.body)
            await delivery.ack()
            if len(received) == 4:
                break
        assert received == [b"interactive", b"bulk-0", b"bulk-1", b"bulk-2"]
    finally:
        await queue.close()


async def test_a_group_of_jobs_is_published_together_confirmed_and_in_order(
    settings: Settings,
) -> None:
    queue = RabbitQueue(BROKER_URL, prefix=settings.queue_prefix, prefetch=10, queues=QUEUES)
    assert await queue.publish_many("grading", [b"never"]) == 0  # not connected yet
    await queue.start()
    try:
        await asyncio.wait_for(queue.connected.wait(), 10)
        bodies = [f"job-{i}".encode() for i in range(50)]
        assert await queue.publish_many("grading", bodies, priority=PRIORITY_INTERACTIVE) == 50
        assert await queue.depth("grading") == 50
        received = []
        async for delivery in queue.consume("grading"):
            received.append(delivery.body)
            await delivery.ack()
            if len(received) == 50:
                break
        assert received == bodies
    finally:
        await queue.close()


async def test_wake_ups_published_together_reach_each_channels_subscribers(
    settings: Settings,
) -> None:
    here = RedisPubSub(REDIS_URL, prefix=settings.queue_prefix)
    there = RedisPubSub(REDIS_URL, prefix=settings.queue_prefix)
    try:
        for pubsub in (here, there):
            await pubsub.start()
            await asyncio.wait_for(pubsub.connected.wait(), 10)
        async with there.subscribe("user:1") as one, there.subscribe("user:2") as two:
            await here.publish_many([("user:1", "a"), ("user:2", "b"), ("user:1", "c")])
            firsts = one.messages()
            got_one = [await asyncio.wait_for(anext(firsts), 10) for _ in range(2)]
            got_two = await asyncio.wait_for(anext(two.messages()), 10)
        assert got_one == ["a", "c"]
        assert got_two == "b"
    finally:
        for pubsub in (here, there):
            await pubsub.close()


async def test_a_purge_in_one_process_reaches_the_cache_of_another(settings: Settings) -> None:
    here_pubsub = RedisPubSub(REDIS_URL, prefix=settings.queue_prefix)
    there_pubsub = RedisPubSub(REDIS_URL, prefix=settings.queue_prefix)
    here, there = Cache(ttl_s=60, pubsub=here_pubsub), Cache(ttl_s=60, pubsub=there_pubsub)
    try:
        for pubsub, cache in ((here_pubsub, here), (there_pubsub, there)):
            await pubsub.start()
            await cache.start()
            await asyncio.wait_for(pubsub.connected.wait(), 10)
        assert await cached(there, "user:1", "progress", _value({"points": 5})) == {"points": 5}
        assert await cached(there, "user:2", "progress", _value({"points": 7})) == {"points": 7}
        # Cached: a different load is not asked.
        assert await cached(there, "user:1", "progress", _value({"points": 6})) == {"points": 5}
        await here.purge("user:1")
        deadline = time.monotonic() + 10
        while there.get(("user:1",), "progress") is not None:
            assert time.monotonic() < deadline, "the purge never reached the other cache"
            await asyncio.sleep(0.01)
        assert await cached(there, "user:1", "progress", _value({"points": 6})) == {"points": 6}
        assert await cached(there, "user:2", "progress", _value({"points": 8})) == {"points": 7}
    finally:
        for pubsub, cache in ((here_pubsub, here), (there_pubsub, there)):
            await cache.close()
            await pubsub.close()


async def test_a_cache_whose_purges_cannot_arrive_neither_answers_nor_stores(
    settings: Settings,
) -> None:
    pubsub = RedisPubSub("redis://127.0.0.1:1/0", prefix=settings.queue_prefix)
    cache = Cache(ttl_s=60, pubsub=pubsub)
    try:
        await pubsub.start()
        await cache.start()
        await asyncio.sleep(0.3)  # its connection attempts fail meanwhile
        assert not cache.live()
        assert await cached(cache, "assignments", "list", _value([1])) == [1]
        assert await cached(cache, "assignments", "list", _value([2])) == [2]
        await cache.purge("assignments")  # published nowhere, and no error
    finally:
        await cache.close()
        await pubsub.close()


def _value(value: object) -> Callable[[], Awaitable[object]]:
    async def load() -> object:
        return value

    return load


@pytest.mark.usefixtures("course")
def test_sigterm_lets_a_run_in_flight_finish_before_the_worker_exits(settings: Settings) -> None:
    web = WebProcess(settings)
    worker = worker_process(settings)
    try:
        with httpx.Client(base_url=web.url, timeout=30) as client:
            client.post("/api/session")
            assignment = client.get("/api/assignments/next").json()
            code = "import time\ntime.sleep(1.5)\n" + ADDER_SOLUTION
            accepted = client.post(
                f"/api/assignments/{assignment['id']}/submissions", json={"code": code}
            )
            deadline = time.monotonic() + 30
            while (
                client.get(f"/api/submissions/{accepted.json()['id']}").json()["status"]
                != "running"
            ):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            worker.popen.send_signal(signal.SIGTERM)
            assert worker.popen.wait(timeout=30) == 0
            graded = wait_graded(client, accepted.json()["id"], timeout=5)
        assert graded["status"] == "passed"
        assert graded["attempts"] == 1
        assert "worker.stopped" in worker.output()
    finally:
        worker.kill()
        web.kill()


def test_a_worker_without_namespaces_refuses_to_start_unless_told_it_is_insecure(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Without root the secure sandbox cannot build its namespaces (as on a locked-down host)."""
    import os
    import subprocess
    import sys

    from tests.services.conftest import ROOT, environment

    data_dir = tmp_path_factory.mktemp("unprivileged")
    data_dir.chmod(0o777)
    # TMPDIR too: seen as uid 65534 there, the worker's private directory would be
    # /tmp/gradeflow-sandbox-65534, which (made by root outside) would lock the real
    # nobody out of the secure sandbox on this machine afterwards.
    env = environment(settings.model_copy(update={"data_dir": data_dir})) | {
        "HOME": str(data_dir),
        "TMPDIR": str(data_dir),
    }
    # A user namespace without a uid map: the process is no longer root, as on a
    # host that will not let the worker build namespaces for its runs.
    as_nobody = ["unshare", "--user"]
    command = [*as_nobody, sys.executable, "-m", "gradeflow", "worker", "--concurrency", "1"]
    refused = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert refused.returncode == 1
    assert "user namespace" in refused.stderr
    assert "Refusing to grade without isolation" in refused.stderr
    assert "--insecure-sandbox" in refused.stderr

    insecure = subprocess.Popen(
        [*command, "--insecure-sandbox"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert insecure.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = insecure.stdout.readline().decode()
            lines.append(line)
            if "worker.ready" in line or not line:
                break
        output = "".join(lines)
        assert "sandbox.INSECURE" in output
        assert "worker.ready" in output
    finally:
        os.kill(insecure.pid, signal.SIGTERM)
        insecure.wait(timeout=30)
        if insecure.stdout is not None:
            insecure.stdout.close()


@pytest.mark.usefixtures("course")
def test_a_worker_exposes_grading_metrics(settings: Settings) -> None:
    from tests.conftest import free_port
    from tests.services.conftest import Process

    metrics_port = free_port()
    web = WebProcess(settings)
    worker = Process(
        settings.model_copy(update={"metrics_port": metrics_port}),
        "worker",
        "--concurrency",
        "1",
        name="worker",
    )
    try:
        with closing(new_student(web)) as client:
            accepted = submit(client, ADDER_SOLUTION)
            wait_graded(client, accepted.json()["id"])
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'gradeflow_grading_outcomes_total{outcome="passed"} 1.0' in text
        assert 'gradeflow_grading_seconds_count{outcome="passed"} 1.0' in text
        assert "gradeflow_sandbox_failures_total 0.0" in text
    finally:
        worker.kill()
        web.kill()


async def test_a_message_kept_by_one_process_is_read_by_another_until_dropped(
    settings: Settings,
) -> None:
    here = RedisPubSub(REDIS_URL, prefix=settings.queue_prefix)
    there = RedisPubSub(REDIS_URL, prefix=settings.queue_prefix)
    try:
        await here.keep("transient:1", "progress:8", "gone", ttl_s=0.01)
        await asyncio.sleep(0.05)
        await here.keep("transient:1", "progress:7", "sse:{}", ttl_s=30)
        assert await there.kept("transient:1") == ["sse:{}"]
        await there.drop("transient:1", "progress:7")
        assert await here.kept("transient:1") == []
    finally:
        await here.close()
        await there.close()
