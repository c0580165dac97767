"""What only the secure sandbox does: slots and uids, the zygote's life, the factory."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog

from gradeflow.courses.format import load_course
from gradeflow.grading.sandbox import (
    ProcessSandbox,
    SandboxUnavailable,
    ZygoteSandbox,
    create_sandbox,
    factory,
    namespaces_unavailable_reason,
)
from gradeflow.grading.sandbox.jail import ENVIRONMENT
from gradeflow.grading.sandbox.uids import UidClaim
from gradeflow.grading.service import grade_code
from tests.grading.sandbox.test_sandbox import CORRECT, make_spec

DEMO_COURSE = Path(__file__).parents[3] / "demo" / "python-basics"


@pytest.fixture
def fresh_sandbox() -> Iterator[ZygoteSandbox]:
    """A sandbox of its own, for tests that kill or close it."""
    reason = namespaces_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    sandbox = ZygoteSandbox(slots=2)
    yield sandbox
    asyncio.run(sandbox.close())


def host_processes_of(uids: tuple[int, ...]) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        try:
            status = Path(f"/proc/{name}/status").read_text()
        except (OSError, ValueError):
            continue
        line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        if int(line.split()[1]) in uids:
            found.append(int(name))
    return found


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``condition`` while letting the event loop (and so the sandbox) work."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


SHOW_HOST_UID = (
    CORRECT + "\nimport time\ntime.sleep(0.3)\nprint(open('/proc/self/uid_map').read())\n"
)
SLEEPER = CORRECT + "\nimport time\ntime.sleep(60)\n"


async def test_concurrent_runs_use_different_slot_uids(zygote_sandbox: ZygoteSandbox) -> None:
    first, second = await asyncio.gather(
        zygote_sandbox.run(make_spec(SHOW_HOST_UID)), zygote_sandbox.run(make_spec(SHOW_HOST_UID))
    )

    mappings = [first.stdout.split(), second.stdout.split()]
    assert first.outcome == second.outcome == "passed"
    assert [(inside, count) for inside, _, count in mappings] == [("1000", "1")] * 2
    host_uids = {int(host) for _, host, _ in mappings}
    # Student processes run as the second half of the uids; judges as the first.
    assert host_uids == set(zygote_sandbox.uids[zygote_sandbox.slots :])
    assert 0 not in host_uids


async def test_more_runs_than_slots_wait_for_a_free_slot(zygote_sandbox: ZygoteSandbox) -> None:
    results = await asyncio.gather(*(zygote_sandbox.run(make_spec(CORRECT)) for _ in range(7)))

    assert [result.outcome for result in results] == ["passed"] * 7


async def test_runs_forked_on_demand_work_like_runs_of_spare_children() -> None:
    if namespaces_unavailable_reason() is not None:
        pytest.skip("the secure sandbox cannot run here")
    sandbox = ZygoteSandbox(slots=2, spares=0)
    try:
        results = await asyncio.gather(
            sandbox.run(make_spec(CORRECT)), sandbox.run(make_spec(CORRECT + "\n1 / 0\n"))
        )
    finally:
        await sandbox.close()

    assert [result.outcome for result in results] == ["passed", "import_error"]


async def test_staging_directories_are_removed_after_each_run(
    zygote_sandbox: ZygoteSandbox,
) -> None:
    await zygote_sandbox.run(make_spec(CORRECT))

    assert zygote_sandbox.runs_dir is not None
    leftovers = [name for name in os.listdir(zygote_sandbox.runs_dir) if name.startswith("run-")]
    assert leftovers == []


async def test_the_run_sees_only_its_own_minimal_environment(
    zygote_sandbox: ZygoteSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADEFLOW_SECRET_CANARY", "canary-4f9a")
    code = CORRECT + "\nimport os\nprint(dict(os.environ))\n"

    result = await zygote_sandbox.run(make_spec(code))

    assert result.stdout.strip() == str(ENVIRONMENT)


async def test_the_network_namespace_has_only_a_loopback_device(
    zygote_sandbox: ZygoteSandbox,
) -> None:
    code = CORRECT + "\nprint(open('/proc/self/net/dev').read())\n"

    result = await zygote_sandbox.run(make_spec(code))

    devices = [line.split(":")[0].strip() for line in result.stdout.splitlines()[2:] if line]
    assert devices == ["lo"]


async def test_cancelled_run_is_killed_and_its_slot_serves_again(
    fresh_sandbox: ZygoteSandbox,
) -> None:
    await fresh_sandbox.start()
    task = asyncio.create_task(fresh_sandbox.run(make_spec(SLEEPER, time_limit_s=30)))
    assert await eventually(lambda: host_processes_of(fresh_sandbox.uids) != [])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await eventually(lambda: host_processes_of(fresh_sandbox.uids) == [])
    results = await asyncio.gather(*(fresh_sandbox.run(make_spec(CORRECT)) for _ in range(2)))
    assert [result.outcome for result in results] == ["passed", "passed"]


async def test_a_killed_zygote_is_replaced_by_the_next_run(fresh_sandbox: ZygoteSandbox) -> None:
    await fresh_sandbox.start()
    first = fresh_sandbox.zygote_pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert await eventually(lambda: fresh_sandbox.zygote_pid is None)

    result = await fresh_sandbox.run(make_spec(CORRECT))

    assert result.outcome == "passed"
    assert fresh_sandbox.zygote_pid not in (None, first)


async def test_a_zygote_dying_mid_run_is_an_internal_error_and_takes_the_run_along(
    fresh_sandbox: ZygoteSandbox,
) -> None:
    await fresh_sandbox.start()
    pid = fresh_sandbox.zygote_pid
    assert pid is not None
    task = asyncio.create_task(fresh_sandbox.run(make_spec(SLEEPER, time_limit_s=30)))
    assert await eventually(lambda: host_processes_of(fresh_sandbox.uids) != [])
    os.kill(pid, signal.SIGKILL)

    result = await asyncio.wait_for(task, 5)

    assert result.outcome == "internal_error"
    assert await eventually(lambda: host_processes_of(fresh_sandbox.uids) == [])


async def test_close_stops_the_zygote_and_frees_the_uids(fresh_sandbox: ZygoteSandbox) -> None:
    await fresh_sandbox.start()
    pid, uids = fresh_sandbox.zygote_pid, fresh_sandbox.uids

    await fresh_sandbox.close()

    assert pid is not None
    assert await eventually(lambda: not os.path.exists(f"/proc/{pid}"))
    claim = UidClaim(os.path.join(fresh_sandbox.state_dir, "uids"), len(uids))
    try:
        assert claim.uids == list(uids)
    finally:
        claim.release()


async def test_two_sandboxes_in_one_process_get_different_uids(
    zygote_sandbox: ZygoteSandbox, fresh_sandbox: ZygoteSandbox
) -> None:
    await zygote_sandbox.start()
    await fresh_sandbox.start()

    assert set(zygote_sandbox.uids).isdisjoint(fresh_sandbox.uids)


def test_this_host_can_run_the_secure_sandbox() -> None:
    # CI runs as root on a kernel with namespaces: the secure sandbox must be tested.
    if os.geteuid() != 0:
        pytest.skip("needs root")
    assert namespaces_unavailable_reason() is None


def test_the_factory_returns_the_secure_sandbox_when_it_can_run() -> None:
    if namespaces_unavailable_reason() is not None:
        pytest.skip("the secure sandbox cannot run here")

    assert isinstance(create_sandbox(slots=3, insecure=False), ZygoteSandbox)
    assert isinstance(create_sandbox(slots=3, insecure=True), ZygoteSandbox)


def test_the_factory_refuses_to_fall_back_unless_told_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "namespaces_unavailable_reason", lambda: "No namespaces here.")

    with pytest.raises(SandboxUnavailable, match=r"No namespaces here\..*--insecure-sandbox"):
        create_sandbox(slots=2, insecure=False)


def test_the_insecure_fallback_is_logged_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "namespaces_unavailable_reason", lambda: "No namespaces here.")

    with structlog.testing.capture_logs() as logs:
        sandbox = create_sandbox(slots=2, insecure=True)

    assert isinstance(sandbox, ProcessSandbox)
    assert [(log["event"], log["log_level"]) for log in logs] == [("sandbox.INSECURE", "warning")]
    assert logs[0]["reason"] == "No namespaces here."


def test_a_worker_that_is_not_root_is_told_why(monkeypatch: pytest.MonkeyPatch) -> None:
    factory._reason.cache_clear()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    try:
        reason = namespaces_unavailable_reason()
    finally:
        factory._reason.cache_clear()

    assert reason is not None
    assert "must be started as root" in reason


async def test_every_demo_solution_passes_in_the_secure_sandbox(
    zygote_sandbox: ZygoteSandbox,
) -> None:
    course = load_course(DEMO_COURSE)

    results = await asyncio.gather(
        *(
            grade_code(zygote_sandbox, assignment=assignment, code=assignment.solution)
            for assignment in course.assignments
        )
    )

    failures = {
        assignment.slug: (result.outcome, result.message)
        for assignment, result in zip(course.assignments, results, strict=True)
        if result.outcome != "passed"
    }
    assert len(results) == 17
    assert failures == {}


async def test_every_demo_starter_is_graded_without_internal_errors(
    zygote_sandbox: ZygoteSandbox,
) -> None:
    course = load_course(DEMO_COURSE)

    results = await asyncio.gather(
        *(
            grade_code(zygote_sandbox, assignment=assignment, code=assignment.starter)
            for assignment in course.assignments
        )
    )

    assert [result.outcome for result in results if result.outcome == "internal_error"] == []


async def test_a_broken_interpreter_fails_at_start_with_a_reason(tmp_path: Path) -> None:
    if namespaces_unavailable_reason() is not None:
        pytest.skip("the secure sandbox cannot run here")
    sandbox = ZygoteSandbox(slots=1, python="/bin/false")
    try:
        with pytest.raises(OSError, match="zygote could not start"):
            await sandbox.start()
    finally:
        await sandbox.close()
