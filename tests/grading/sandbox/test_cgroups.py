"""cgroup v2 limits of the secure sandbox, its fallback to rlimits, and what a run
whose tests reach the judge's own limits becomes.

The detection runs against kernel-format files written here and against this
host's own hierarchy. The tests that need a delegated cgroup v2 subtree with
``pids`` and ``memory`` are skipped without one (this machine binds both to
cgroup v1); ``make cgroup-vm`` runs them in a VM, as root and as ``nobody``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gradeflow.courses.format import Scoring
from gradeflow.grading.sandbox import (
    RunResult,
    RunSpec,
    TestResult,
    ZygoteSandbox,
    namespaces_unavailable_reason,
)
from gradeflow.grading.sandbox.host_run import grader_limit_error
from gradeflow.grading.sandbox.jailed import cgroups
from gradeflow.grading.sandbox.zygote_client import PROCESS_LIMIT, ZygoteFailed
from gradeflow.grading.verdicts import SubmissionStatus, compute_score, status_for
from tests.grading.sandbox.time_scale import scaled

MIB = 1024 * 1024
WAIT_S = scaled(60.0)  # the longest any poll here waits for the zygote (a slow VM)


def cgroup_v2_unavailable() -> str | None:
    """Why this process has no usable delegated cgroup v2 subtree, or None."""
    try:
        cgroups.check_usable(cgroups.own_cgroup_directory())
    except (cgroups.CgroupUnavailable, OSError) as exc:
        return str(exc)
    return None


UNAVAILABLE = cgroup_v2_unavailable()
needs_cgroup_v2 = pytest.mark.skipif(
    UNAVAILABLE is not None,
    reason=f"no delegated cgroup v2 subtree with pids and memory here ({UNAVAILABLE}); "
    "`make cgroup-vm` runs these in a VM",
)
needs_fallback = pytest.mark.skipif(
    UNAVAILABLE is None, reason="this host has a usable cgroup v2 subtree"
)


@pytest.fixture(autouse=True)
def _secure_sandbox_available() -> None:
    reason = namespaces_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def zygote() -> Iterator[ZygoteSandbox]:
    sandbox = ZygoteSandbox(slots=1)
    yield sandbox
    asyncio.run(sandbox.close())


TESTS = """
import unittest

from work import work


class WorkTest(unittest.TestCase):
    def test_work(self):
        self.assertEqual(work(), "done")
"""
CORRECT = "def work():\n    return 'done'\n"
# Forks until the kernel refuses, keeping every child alive, then exits: a fork
# bomb that stops itself, so its run shows which limit stopped it.
FORK_BOMB = """
import os, time

def work():
    for _ in range(1000):
        try:
            pid = os.fork()
        except BlockingIOError:
            os._exit(3)
        if pid == 0:
            try:
                time.sleep(120)
            finally:
                os._exit(0)
    return "done"
"""
# Four processes of 48 MiB each: every one stays well inside its address-space
# limit (RLIMIT_AS counts one process, ~25 MB before this), together they are far
# above 128 MB.
MEMORY_BOMB = """
import os, time

def work():
    reader, writer = os.pipe()
    for _ in range(4):
        if os.fork() == 0:
            try:  # a child never returns into the student process's own code
                hoard = [b"x" * (8 * 1024 * 1024) for _ in range(6)]
                os.write(writer, b"+")
                time.sleep(120)
            finally:
                os._exit(0)
    os.close(writer)
    grown = 0
    while grown < 4 and os.read(reader, 1):
        grown += 1
    return "done" if grown == 4 else f"only {grown} grew"
"""
# Sleeps inside the test, so the run's cgroups can be looked at while it runs.
SLEEPER = "import time\n\ndef work():\n    time.sleep(120)\n    return 'done'\n"


def spec(code: str, *, memory_mb: int = 128, time_limit_s: float = 60.0) -> RunSpec:
    return RunSpec(
        files={"tests.py": TESTS.encode(), "work.py": code.encode()},
        module="work",
        test_ids=("WorkTest.test_work",),
        time_limit_s=scaled(time_limit_s),
        memory_mb=memory_mb,
    )


def subtree(sandbox: ZygoteSandbox) -> Path:
    """The zygote's cgroup subtree (named by the pid the worker knows it by)."""
    return Path(cgroups.own_cgroup_directory()) / f"gradeflow-{sandbox.zygote_pid}"


def process_cgroups(directory: Path) -> list[Path]:
    return sorted(path for path in directory.iterdir() if path.is_dir())


def wait_until_empty(directory: Path) -> list[Path]:
    """The cgroups left in ``directory`` once the zygote removed its runs' (a removal
    the kernel refuses at first is retried from the zygote's loop)."""
    deadline = time.monotonic() + WAIT_S
    while process_cgroups(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    return process_cgroups(directory)


def wait_for_two(directory: Path) -> list[Path]:
    """The run's judge and student cgroups, once both exist."""
    deadline = time.monotonic() + WAIT_S
    while len(process_cgroups(directory)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return process_cgroups(directory)


# Finding the process's cgroup ------------------------------------------------------


def kernel_files(tmp_path: Path, *, mounts: list[str], cgroup: str) -> dict[str, str]:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("".join(line + "\n" for line in mounts))
    own = tmp_path / "cgroup"
    own.write_text(cgroup)
    return {"mountinfo": str(mountinfo), "cgroup": str(own)}


def test_the_unified_line_leads_into_the_cgroup2_mount_not_a_v1_one(tmp_path: Path) -> None:
    (tmp_path / "unified" / "work" / "worker").mkdir(parents=True)
    (tmp_path / "memory" / "work" / "worker").mkdir(parents=True)
    files = kernel_files(
        tmp_path,
        mounts=[
            f"30 25 0:26 / {tmp_path}/memory rw - cgroup cgroup rw,memory",
            f"31 25 0:27 / {tmp_path}/unified rw,nosuid - cgroup2 cgroup2 rw",
        ],
        cgroup="4:memory:/elsewhere\n0::/work/worker\n",
    )

    assert cgroups.own_cgroup_directory(**files) == f"{tmp_path}/unified/work/worker"


def test_a_process_in_the_leaf_of_an_earlier_zygote_uses_the_leafs_parent(
    tmp_path: Path,
) -> None:
    (tmp_path / "unified" / "work" / cgroups.LEAF).mkdir(parents=True)
    files = kernel_files(
        tmp_path,
        mounts=[f"31 25 0:27 / {tmp_path}/unified rw - cgroup2 cgroup2 rw"],
        cgroup=f"0::/work/{cgroups.LEAF}\n",
    )

    assert cgroups.own_cgroup_directory(**files) == f"{tmp_path}/unified/work"


def test_a_mount_of_part_of_the_hierarchy_and_escaped_mount_points_are_followed(
    tmp_path: Path,
) -> None:
    (tmp_path / "cgroup v2" / "worker").mkdir(parents=True)
    escaped = f"{tmp_path}/cgroup\\040v2"
    files = kernel_files(
        tmp_path,
        mounts=[
            f"31 25 0:27 /other {tmp_path}/nowhere rw - cgroup2 cgroup2 rw",
            f"32 25 0:27 /service {escaped} rw - cgroup2 cgroup2 rw",
        ],
        cgroup="0::/service/worker\n",
    )

    assert cgroups.own_cgroup_directory(**files) == f"{tmp_path}/cgroup v2/worker"


def test_without_a_unified_line_or_a_cgroup2_mount_there_is_no_subtree(tmp_path: Path) -> None:
    only_v1 = kernel_files(
        tmp_path,
        mounts=[f"30 25 0:26 / {tmp_path} rw - cgroup cgroup rw,pids"],
        cgroup="8:pids:/\n",
    )
    with pytest.raises(cgroups.CgroupUnavailable, match="no 0:: line"):
        cgroups.own_cgroup_directory(**only_v1)

    not_mounted = kernel_files(
        tmp_path,
        mounts=[f"30 25 0:26 / {tmp_path} rw - cgroup cgroup rw,pids"],
        cgroup="0::/work\n",
    )
    with pytest.raises(cgroups.CgroupUnavailable, match="no cgroup v2 hierarchy is mounted"):
        cgroups.own_cgroup_directory(**not_mounted)


def test_a_hierarchy_without_pids_or_memory_is_not_usable(tmp_path: Path) -> None:
    for name in ("cgroup.procs", "cgroup.subtree_control"):
        (tmp_path / name).write_text("")
    (tmp_path / "cgroup.controllers").write_text("cpu io memory hugetlb\n")

    with pytest.raises(cgroups.CgroupUnavailable, match=r"offers no pids controller \(it offers"):
        cgroups.check_usable(str(tmp_path))

    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids\n")
    cgroups.check_usable(str(tmp_path))


# Without a subtree: rlimits only, as before --------------------------------------


@needs_fallback
@pytest.mark.asyncio
async def test_without_a_delegated_subtree_the_zygote_keeps_its_rlimits_and_says_why(
    zygote: ZygoteSandbox,
) -> None:
    assert UNAVAILABLE is not None
    await zygote.start()

    assert not zygote.cgroup_limits
    # Found by the zygote itself (unprivileged, from inside its user namespace).
    assert zygote.cgroups_unused == UNAVAILABLE
    result = await zygote.run(spec(CORRECT))
    assert result.outcome == "passed"


@needs_fallback
@pytest.mark.asyncio
async def test_asking_for_cgroup_limits_without_a_subtree_refuses_to_start() -> None:
    sandbox = ZygoteSandbox(slots=1, cgroups="on")
    try:
        with pytest.raises(ZygoteFailed, match="cgroup v2 limits were asked for, but "):
            await sandbox.start()
    finally:
        await sandbox.close()


@pytest.mark.asyncio
async def test_cgroup_limits_turned_off_are_not_used_even_where_possible() -> None:
    sandbox = ZygoteSandbox(slots=1, cgroups="off")
    try:
        await sandbox.start()
        assert not sandbox.cgroup_limits
        assert sandbox.cgroups_unused == "cgroup limits are turned off"
        assert not subtree(sandbox).exists()
    finally:
        await sandbox.close()


# With a delegated subtree ------------------------------------------------------


@needs_cgroup_v2
@pytest.mark.asyncio
async def test_each_process_of_a_run_is_in_a_cgroup_with_the_assignments_limits(
    zygote: ZygoteSandbox,
) -> None:
    await zygote.start()
    assert zygote.cgroup_limits, zygote.cgroups_unused
    directory = subtree(zygote)
    running = asyncio.ensure_future(zygote.run(spec(SLEEPER, memory_mb=100)))
    try:
        judge, student = await asyncio.to_thread(wait_for_two, directory)

        assert judge.name.endswith("-judge")
        assert student.name.endswith("-student-1")
        assert (judge / "memory.max").read_text() == f"{(100 + 256) * MIB}\n"
        assert (student / "memory.max").read_text() == f"{100 * MIB}\n"
        for cgroup in (judge, student):
            assert (cgroup / "pids.max").read_text() == f"{PROCESS_LIMIT}\n"
            assert (cgroup / "memory.swap.max").read_text() == "0\n"
            assert (cgroup / "memory.oom.group").read_text() == "1\n"
            assert (cgroup / "cgroup.procs").read_text().split(), f"{cgroup} has no process"
        # The zygote stays outside its runs' cgroups.
        assert str(zygote.zygote_pid) not in (student / "cgroup.procs").read_text().split()
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    assert wait_until_empty(directory) == []


@needs_cgroup_v2
@pytest.mark.asyncio
async def test_a_fork_bomb_stops_at_pids_max_and_the_zygote_still_starts_runs(
    zygote: ZygoteSandbox,
) -> None:
    result = await zygote.run(spec(FORK_BOMB))

    assert zygote.cgroup_limits, zygote.cgroups_unused
    assert result.outcome == "crashed"
    assert result.tests[0].message == (
        "Your program exited while running WorkTest.test_work (exit status 3; "
        "it reached its limit of processes and threads)."
    )
    assert wait_until_empty(subtree(zygote)) == []
    # Nothing of the zygote's was counted: it forks the next run as before.
    after: RunResult = await zygote.run(spec(CORRECT))
    assert after.outcome == "passed"
    assert zygote.zygote_pid is not None


@needs_cgroup_v2
@pytest.mark.asyncio
async def test_a_memory_bomb_of_several_processes_is_killed_at_memory_max_and_explained(
    zygote: ZygoteSandbox,
) -> None:
    result = await zygote.run(spec(MEMORY_BOMB, memory_mb=128))

    assert zygote.cgroup_limits, zygote.cgroups_unused
    assert result.outcome == "memory_limit", result
    assert result.tests[0].message == (
        "Your code used more than the 128 MB of memory it may use while running "
        "WorkTest.test_work, so it was stopped."
    )
    assert wait_until_empty(subtree(zygote)) == []
    after = await zygote.run(spec(CORRECT))
    assert after.outcome == "passed"


@needs_cgroup_v2
@pytest.mark.asyncio
async def test_closing_the_sandbox_removes_its_subtree() -> None:
    sandbox = ZygoteSandbox(slots=1)
    try:
        result = await sandbox.run(spec(CORRECT))
        assert result.outcome == "passed"
        directory = subtree(sandbox)
        assert directory.is_dir()
    finally:
        await sandbox.close()

    assert not directory.exists()
    # The processes that were in the zygote's cgroup at its start moved to the leaf
    # (the root cgroup may keep them), so its children could use the controllers.
    parent = directory.parent
    assert {"pids", "memory"} <= set((parent / "cgroup.subtree_control").read_text().split())
    if (parent / "cgroup.type").exists():
        assert (parent / "cgroup.procs").read_text() == ""
        assert str(os.getpid()) in (parent / cgroups.LEAF / "cgroup.procs").read_text().split()


@needs_cgroup_v2
@pytest.mark.asyncio
async def test_the_subtree_of_a_killed_zygote_is_removed_by_the_next_one() -> None:
    killed = ZygoteSandbox(slots=1)
    try:
        await killed.start()
        assert killed.zygote_pid is not None
        left_behind = subtree(killed)
        os.kill(killed.zygote_pid, signal.SIGKILL)
    finally:
        await killed.close()  # reaps it: it can do no clean-up of its own
    assert left_behind.is_dir()

    sandbox = ZygoteSandbox(slots=1)
    try:
        await sandbox.start()
        assert sandbox.cgroup_limits, sandbox.cgroups_unused
        assert not left_behind.exists()
    finally:
        await sandbox.close()


@needs_cgroup_v2
@pytest.mark.asyncio
async def test_one_process_that_grows_still_meets_its_address_space_limit_first(
    zygote: ZygoteSandbox,
) -> None:
    bomb = "def work():\n    hoard = []\n    while True:\n        hoard.append(bytearray(2**20))\n"

    result = await zygote.run(spec(bomb, memory_mb=96))

    assert zygote.cgroup_limits, zygote.cgroups_unused
    assert result.outcome == "memory_limit", result
    assert result.tests[0].message.startswith("MemoryError"), result.tests[0].message


# The judge's own limits: the tests' fault, never the student's -------------------

# Tests that start four processes of 100 MB each in the judge: none reaches its
# address-space limit, together they are far above the judge's memory.max.
GREEDY_TESTS = """
import os, time, unittest

from work import work


class WorkTest(unittest.TestCase):
    def test_work(self):
        reader, writer = os.pipe()
        for _ in range(4):
            if os.fork() == 0:
                try:
                    hoard = b"x" * (100 * 1024 * 1024)
                    os.write(writer, b"+")
                    time.sleep(120)
                finally:
                    os._exit(0)
        os.close(writer)
        grown = 0
        while grown < 4 and os.read(reader, 1):
            grown += 1
        self.assertEqual(work(), "done")
"""
# Tests that start threads until the kernel refuses one, then pass. Small stacks:
# with the default 8 MiB each, the judge's RLIMIT_AS would refuse the sixth first.
THREADING_TESTS = """
import threading, unittest

from work import work


class WorkTest(unittest.TestCase):
    def test_work(self):
        threading.stack_size(256 * 1024)
        stop = threading.Event()
        started = 0
        try:
            while started < 100:
                threading.Thread(target=stop.wait, daemon=True).start()
                started += 1
        except RuntimeError:
            pass
        stop.set()
        self.assertEqual(work(), "done")
"""


def run_of_tests(tests: str, *, memory_mb: int) -> RunSpec:
    return RunSpec(
        files={"tests.py": tests.encode(), "work.py": CORRECT.encode()},
        module="work",
        test_ids=("WorkTest.test_work",),
        time_limit_s=scaled(60.0),
        memory_mb=memory_mb,
    )


def test_a_grader_limit_result_is_an_error_that_no_test_passed_and_says_whose_it_is() -> None:
    spec = run_of_tests(GREEDY_TESTS, memory_mb=32)
    judged = RunResult(
        outcome="passed",
        tests=(TestResult("WorkTest.test_work", "passed", ""),),
        message="The test passed.",
        stdout="out",
        stderr="err",
        duration_ms=7,
    )

    result = grader_limit_error(spec, judged, ("memory", "processes"))

    assert result.outcome == "internal_error"
    assert result.assignment_error
    assert [test.outcome for test in result.tests] == ["not_run"]
    assert result.message == (
        "The grader stopped: the tests themselves used more than the 288 MB of memory "
        "the grader may use (the assignment's 32 MB and 256 MB for the tests) and more "
        "processes or threads than the grader may start. This is a problem of the "
        "assignment's tests, not of the submitted code; no test counts for this run."
    )
    assert (result.stdout, result.stderr, result.duration_ms) == ("out", "err", 7)
    assert RunResult.from_dict(result.to_dict()) == result
    assert status_for(result) is SubmissionStatus.error
    assert compute_score(points=10, scoring=Scoring.proportional, result=result) == 0.0


@needs_cgroup_v2
@pytest.mark.asyncio
async def test_tests_that_exceed_the_judges_memory_max_are_the_graders_error(
    zygote: ZygoteSandbox,
) -> None:
    result = await zygote.run(run_of_tests(GREEDY_TESTS, memory_mb=32))

    assert zygote.cgroup_limits, zygote.cgroups_unused
    assert result.outcome == "internal_error", result
    assert result.assignment_error
    assert result.passed_count == 0
    assert result.message.startswith(
        "The grader stopped: the tests themselves used more than the 288 MB of memory "
        "the grader may use"
    ), result.message
    assert "not of the submitted code" in result.message
    assert wait_until_empty(subtree(zygote)) == []
    after = await zygote.run(spec(CORRECT))
    assert after.outcome == "passed"


@needs_cgroup_v2
@pytest.mark.asyncio
async def test_tests_that_reach_the_judges_pids_max_are_the_graders_error(
    zygote: ZygoteSandbox,
) -> None:
    result = await zygote.run(run_of_tests(THREADING_TESTS, memory_mb=128))

    assert zygote.cgroup_limits, zygote.cgroups_unused
    # The judge survived and reported the test passed: still not a verdict.
    assert result.outcome == "internal_error", result
    assert result.assignment_error
    assert result.passed_count == 0
    assert result.message.startswith(
        "The grader stopped: the tests themselves used more processes or threads than "
        "the grader may start."
    ), result.message
    after = await zygote.run(spec(CORRECT))
    assert after.outcome == "passed"
