"""What only the secure sandbox does: slots and uids, the zygote's life, the factory.

These run as root (slot uids) and, from ``make test-unprivileged``, as an ordinary
user (user namespaces); tests of one mode only skip in the other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
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
    factory,
    namespaces_unavailable_reason,
    start_sandbox,
    zygote_client,
)
from gradeflow.grading.sandbox.jailed import launch
from gradeflow.grading.sandbox.jailed.jail import ENVIRONMENT
from gradeflow.grading.sandbox.uids import UidClaim, private_directory
from gradeflow.grading.sandbox.zygote_client import PROCESS_LIMIT, default_state_dir
from gradeflow.grading.verdicts import grade_code
from tests.grading.sandbox.leftovers import run_processes
from tests.grading.sandbox.test_sandbox import CORRECT, make_spec, process_gone
from tests.grading.sandbox.time_scale import scaled

DEMO_COURSE = Path(__file__).parents[3] / "demo" / "python-basics"
ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not ROOT, reason="slot uids exist only as root")
unprivileged_only = pytest.mark.skipif(ROOT, reason="what an ordinary user's sandbox does")


@pytest.fixture
def fresh_sandbox() -> Iterator[ZygoteSandbox]:
    """A sandbox of its own, for tests that kill or close it."""
    reason = namespaces_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    sandbox = ZygoteSandbox(slots=2)
    yield sandbox
    asyncio.run(sandbox.close())


async def eventually(condition: Callable[[], bool], timeout_s: float = scaled(5.0)) -> bool:
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


@root_only
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


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def zygote_children(pid: int) -> list[int]:
    """The processes the zygote forked and has not reaped: between runs, its spares.
    Unprivileged, ``pid`` only waits for the zygote proper, the init of its own PID
    namespace (``jail.become_pid_namespace_init``), which forks them."""
    if not ROOT:
        inits = children(pid)
        if len(inits) != 1:
            return []
        pid = inits[0]
    return children(pid)


@pytest.mark.parametrize(
    "code",
    [CORRECT, "def two_fer(:\n"],
    ids=["a run that passes", "a run whose student process never says hello"],
)
async def test_the_zygote_makes_its_spares_again_after_a_run(code: str) -> None:
    """Each run takes two spares, which the zygote replaces, whether its judge got as
    far as the tests or stopped at the student's failed import."""
    if namespaces_unavailable_reason() is not None:
        pytest.skip("the secure sandbox cannot run here")
    sandbox = ZygoteSandbox(slots=1, spares=2)
    try:
        await sandbox.start()
        zygote = sandbox.zygote_pid
        assert zygote is not None
        assert await eventually(lambda: len(zygote_children(zygote)) == 2)
        before = set(zygote_children(zygote))

        result = await sandbox.run(make_spec(code))

        assert result.outcome in ("passed", "syntax_error")
        # Two new ones: the run's processes were two of the spares, and are reaped.
        assert await eventually(
            lambda: len(zygote_children(zygote)) == 2 and not before & set(zygote_children(zygote))
        )
    finally:
        await sandbox.close()


async def test_tests_compiled_by_the_worker_grade_as_the_judge_compiling_them_would() -> None:
    """The judge loads the worker's compiled ``tests.py`` (same interpreter); a tests
    file that does not compile reaches the judge as source, which reports it."""
    if namespaces_unavailable_reason() is not None:
        pytest.skip("the secure sandbox cannot run here")
    spec = make_spec(CORRECT)
    assert zygote_client.compiled_tests(spec.files["tests.py"]) is not None
    broken = dataclasses.replace(
        spec, files={**spec.files, "tests.py": spec.files["tests.py"] + b"\ndef (:\n"}
    )
    assert zygote_client.compiled_tests(broken.files["tests.py"]) is None
    sandbox = ZygoteSandbox(slots=1)
    try:
        compiled = await sandbox.run(spec)
        uncompiled = await sandbox.run(broken)
    finally:
        await sandbox.close()

    assert compiled.outcome == "passed"
    assert [test.outcome for test in compiled.tests] == ["passed"] * len(spec.test_ids)
    assert uncompiled.outcome != "passed"


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
    assert await eventually(lambda: run_processes(fresh_sandbox) != [])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await eventually(lambda: run_processes(fresh_sandbox) == [])
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
    assert await eventually(lambda: run_processes(fresh_sandbox) != [])
    running = run_processes(fresh_sandbox)
    os.kill(pid, signal.SIGKILL)

    result = await asyncio.wait_for(task, 5)

    assert result.outcome == "internal_error"
    # As root, until no process (not even a zombie) has the slots' uids, which the
    # next sandbox may claim; unprivileged, until the run's processes have exited.
    assert await eventually(
        lambda: run_processes(fresh_sandbox) == [] and all(process_gone(pid) for pid in running)
    )


@root_only
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


@root_only
async def test_two_sandboxes_in_one_process_get_different_uids(
    zygote_sandbox: ZygoteSandbox, fresh_sandbox: ZygoteSandbox
) -> None:
    await zygote_sandbox.start()
    await fresh_sandbox.start()

    assert set(zygote_sandbox.uids).isdisjoint(fresh_sandbox.uids)


# Modules whose import costs every child the zygote forks: threading's after-fork
# hook, and shared libraries whose page tables each fork copies and each exit unmaps.
FORK_COSTLY_MODULES = ("threading", "subprocess", "shutil", "bz2", "lzma")
ZYGOTE_IMPORTS = """\
import importlib, sys, types
for name, path in (("gradeflow", []), ("gradeflow.grading", []),
                   ("gradeflow.grading.sandbox", [sys.argv[1]])):
    module = types.ModuleType(name)
    module.__path__ = path
    sys.modules[name] = module
zygote = importlib.import_module("gradeflow.grading.sandbox.jailed.zygote")
for name in zygote.WARM_MODULES:
    importlib.import_module(name)
zygote.rehearsal.rehearse(rounds=1)
print(" ".join(name for name in sys.argv[2:] if name in sys.modules))
"""


def test_the_zygote_holds_no_module_that_makes_each_fork_cost_more() -> None:
    loaded = subprocess.run(
        [
            os.path.realpath(sys.executable),
            "-I",
            "-S",
            "-B",
            "-c",
            ZYGOTE_IMPORTS,
            launch.PACKAGE_DIR,
            *FORK_COSTLY_MODULES,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    assert loaded == []


def test_this_host_can_run_the_secure_sandbox() -> None:
    # CI runs these tests as root and as an ordinary user, on a kernel with
    # unprivileged user namespaces: the secure sandbox must be tested in both modes.
    assert namespaces_unavailable_reason() is None


async def test_the_factory_starts_the_secure_sandbox_when_it_can_run() -> None:
    if namespaces_unavailable_reason() is not None:
        pytest.skip("the secure sandbox cannot run here")

    for insecure in (False, True):
        sandbox = await start_sandbox(slots=3, insecure=insecure)
        try:
            assert isinstance(sandbox, ZygoteSandbox)
            assert sandbox.zygote_pid is not None  # started, and ready
        finally:
            await sandbox.close()


async def test_the_factory_refuses_to_fall_back_unless_told_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(factory, "_missing_prerequisite", lambda: "No namespaces here.")

    with pytest.raises(SandboxUnavailable, match=r"No namespaces here\..*--insecure-sandbox"):
        await start_sandbox(slots=2, insecure=False)


async def test_a_sandbox_that_fails_its_self_test_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if namespaces_unavailable_reason() is not None:
        pytest.skip("the secure sandbox cannot run here")
    files = dict(factory._PROBE_SPEC.files) | {"probe.py": b"def answer():\n    return 41\n"}
    broken = dataclasses.replace(factory._PROBE_SPEC, files=files)
    monkeypatch.setattr(factory, "_PROBE_SPEC", broken)

    with pytest.raises(SandboxUnavailable, match=r"failed its self-test"):
        await start_sandbox(slots=1, insecure=False)


async def test_a_state_directory_others_can_enter_is_refused_saying_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if namespaces_unavailable_reason() is not None:
        pytest.skip("the secure sandbox cannot run here")
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)  # as if another user had made it first, open to all
    monkeypatch.setattr(zygote_client, "default_state_dir", lambda: str(state))

    with pytest.raises(SandboxUnavailable, match="must be a directory owned by us") as refused:
        await start_sandbox(slots=1, insecure=False)

    # What to do about it, and no advice about user namespaces, which are not the cause.
    assert "set XDG_RUNTIME_DIR (or TMPDIR)" in str(refused.value)
    assert "user namespaces" not in str(refused.value)


async def test_the_insecure_fallback_is_logged_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "_missing_prerequisite", lambda: "No namespaces here.")

    with structlog.testing.capture_logs() as logs:
        sandbox = await start_sandbox(slots=2, insecure=True)
    await sandbox.close()

    assert isinstance(sandbox, ProcessSandbox)
    assert [(log["event"], log["log_level"]) for log in logs] == [("sandbox.INSECURE", "warning")]
    assert logs[0]["reason"] == "No namespaces here."


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone"),
        ("user/max_user_namespaces", "0", "user.max_user_namespaces"),
        (
            "kernel/apparmor_restrict_unprivileged_userns",
            "1",
            "kernel.apparmor_restrict_unprivileged_userns",
        ),
    ],
)
def test_the_kernel_setting_that_forbids_user_namespaces_is_named(
    tmp_path: Path, setting: str, value: str, named: str
) -> None:
    for name, allowing in [
        ("kernel/unprivileged_userns_clone", "1"),
        ("user/max_user_namespaces", "1000"),
        ("kernel/apparmor_restrict_unprivileged_userns", "0"),
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(value if name == setting else allowing)

    blocker = factory.user_namespace_blocker(str(tmp_path))

    assert blocker is not None
    assert named in blocker


def test_a_kernel_without_those_settings_blocks_nothing(tmp_path: Path) -> None:
    assert factory.user_namespace_blocker(str(tmp_path)) is None


def test_an_unprivileged_worker_is_told_which_setting_to_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    factory._reason.cache_clear()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(
        factory, "user_namespace_blocker", lambda: "User namespaces are disabled (x = 0)"
    )
    try:
        reason = namespaces_unavailable_reason()
    finally:
        factory._reason.cache_clear()

    assert reason == "User namespaces are disabled (x = 0); or start the worker as root."


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


@unprivileged_only
async def test_unprivileged_runs_are_the_invoking_user_without_capabilities(
    zygote_sandbox: ZygoteSandbox,
) -> None:
    code = CORRECT + (
        "\nprint(open('/proc/self/uid_map').read().split())"
        "\nprint([line for line in open('/proc/self/status') if line.startswith('CapEff')])\n"
    )

    result = await zygote_sandbox.run(make_spec(code))

    assert result.outcome == "passed"
    uid_map, capabilities = result.stdout.splitlines()
    # 1000 inside is the root of the zygote's namespace, which is us on the host.
    assert uid_map == "['1000', '0', '1']"
    assert capabilities == "['CapEff:\\t0000000000000000\\n']"
    assert zygote_sandbox.zygote_pid is not None
    zygote_map = Path(f"/proc/{zygote_sandbox.zygote_pid}/uid_map")
    assert (await asyncio.to_thread(zygote_map.read_text)).split() == ["0", str(os.getuid()), "1"]


async def test_a_run_cannot_read_what_the_invoking_user_owns(
    zygote_sandbox: ZygoteSandbox, tmp_path: Path
) -> None:
    secret = "private-3c1d"
    private = tmp_path / "private.txt"
    private.write_text(secret)
    private.chmod(0o600)
    await zygote_sandbox.start()
    targets = [str(private), str(tmp_path), zygote_sandbox.state_dir]
    if not ROOT:
        # Root's home holds the interpreter of this test run (pyenv's), bound for runs.
        targets.append(str(Path.home()))
    targets += [f"/proc/1/root{path}" for path in targets]
    code = (
        CORRECT
        + f"""
import os
for path in {targets!r}:
    for action in (os.listdir, lambda path: open(path).read()):
        try:
            print(path, "read:", action(path))
        except OSError as exc:
            print(path, "denied:", type(exc).__name__)
"""
    )

    result = await zygote_sandbox.run(make_spec(code))

    assert result.outcome == "passed"
    assert secret not in result.stdout
    assert "read:" not in result.stdout
    assert result.stdout.count("denied:") == 2 * len(targets)


async def test_a_fork_bomb_is_stopped_however_many_processes_the_user_already_has(
    zygote_sandbox: ZygoteSandbox,
) -> None:
    # More processes of ours than a run may have: RLIMIT_NPROC of a run must count
    # the run's processes only (per uid, and unprivileged per user namespace).
    ours = await asyncio.to_thread(start_sleepers, PROCESS_LIMIT + 4)
    forking = (
        CORRECT
        + """
import os, time
children = []
try:
    while len(children) < 200:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    print("forked", len(children))
except OSError as exc:
    print("stopped after", len(children), type(exc).__name__)
"""
    )
    try:
        some = await zygote_sandbox.run(make_spec(CORRECT + FORKS_EIGHT))
        bomb = await zygote_sandbox.run(make_spec(forking))

        assert some.outcome == "passed", some.message
        assert some.stdout.strip() == "forked 8"
        assert bomb.outcome == "passed", bomb.message
        stopped = bomb.stdout.split()
        assert stopped[:2] == ["stopped", "after"]
        assert 0 < int(stopped[2]) < PROCESS_LIMIT
        assert stopped[3] == "BlockingIOError"  # EAGAIN: over RLIMIT_NPROC
        assert all(process.poll() is None for process in ours)
        assert await asyncio.to_thread(can_start_a_process)
    finally:
        await asyncio.to_thread(stop, ours)


def start_sleepers(count: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen(["sleep", "120"]) for _ in range(count)]


def can_start_a_process() -> bool:
    return subprocess.run(["true"], check=False).returncode == 0


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.kill()
        process.wait()


FORKS_EIGHT = """
import os
pids = []
for _ in range(8):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
print("forked", len(pids))
"""


@unprivileged_only
def test_an_unprivileged_sandbox_keeps_its_state_in_a_private_directory_of_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert default_state_dir() == str(runtime / "gradeflow-sandbox")

    runtime.chmod(0o777)  # a runtime directory that others may write is not used
    assert default_state_dir() == f"{tempfile.gettempdir()}/gradeflow-sandbox-{os.getuid()}"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert default_state_dir() == f"{tempfile.gettempdir()}/gradeflow-sandbox-{os.getuid()}"


def test_a_state_directory_that_is_a_link_or_open_to_others_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "open").mkdir(mode=0o700)
    (tmp_path / "open").chmod(0o755)

    for name in ("link", "open"):
        with pytest.raises(PermissionError, match="must be a directory owned by us"):
            private_directory(str(tmp_path / name))
    assert private_directory(str(tmp_path / "new")) == str(tmp_path / "new")
