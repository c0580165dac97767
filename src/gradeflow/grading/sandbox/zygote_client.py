"""``ZygoteSandbox``: the worker's side of the zygote fork server.

Each run borrows a slot (and with it, as root, the slot's host uid; unprivileged,
every run is the invoking user, confined by the zygote's user namespace), lays its
files out in a private staging directory, creates the pipes the run writes to, and asks the
zygote to start it. The zygote enforces the wall clock and reports the wait status
on the run's status pipe; the verdict is decided here from that status and what
came over the result channel, exactly as for ``ProcessSandbox``.

Nothing the run can write reaches the host's filesystem: its only writable place
is a tmpfs that disappears with its mount namespace, and the staging directory is
bound read-only, so the clean-up never meets a planted link.
"""

from __future__ import annotations

import array
import asyncio
import base64
import contextlib
import functools
import importlib.util
import itertools
import json
import marshal
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

import structlog

from gradeflow.grading.sandbox.host_run import Exit, judge_config, run_judged
from gradeflow.grading.sandbox.jailed import launch
from gradeflow.grading.sandbox.jailed.cgroups import process_exists
from gradeflow.grading.sandbox.jailed.jail import JUDGE_CONFIG, RUNS_DIR, TASK_DIR
from gradeflow.grading.sandbox.pipes import RunPipes
from gradeflow.grading.sandbox.results import ProgressCallback, RunResult
from gradeflow.grading.sandbox.spec import TESTS_FILE, RunSpec
from gradeflow.grading.sandbox.staging import remove_workdir
from gradeflow.grading.sandbox.uids import UID_BASE, UidClaim, private_directory

log = structlog.get_logger(__name__)

DEFAULT_STATE_DIR = "/run/gradeflow-sandbox"  # root's; see default_state_dir
# Processes and threads of one run. With RLIMIT_AS per process, a run can hold at
# most this many times its memory limit: keep it small.
PROCESS_LIMIT = 16
TMP_LIMIT = 32 * 1024 * 1024
# How long after the wall-clock limit the zygote may take to report a run before
# the worker decides the zygote is broken.
ZYGOTE_GRACE_S = 10.0
START_TIMEOUT_S = 30.0
# Tests files the worker compiles for the judge (see compiled_tests): up to this size,
# the last this many.
COMPILED_TESTS_BYTES = 64 * 1024
COMPILED_TESTS_KEPT = 64
# Per-process cgroup v2 limits: where a delegated subtree exists, always, never.
CgroupMode = Literal["auto", "on", "off"]


class ZygoteFailed(OSError):
    """The zygote could not start; the message says why."""


class _Slots:
    """Free slot numbers; waiters may come from any event loop."""

    def __init__(self, count: int) -> None:
        self._free = deque(range(count))
        self._waiters: deque[asyncio.Future[int]] = deque()

    async def acquire(self) -> int:
        if self._free:
            return self._free.popleft()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            slot: int = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # handed over just as we were cancelled
            raise
        return slot

    def release(self, slot: int) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.get_loop().call_soon_threadsafe(_hand_over, waiter, slot, self)
                return
        self._free.append(slot)


def _hand_over(waiter: asyncio.Future[int], slot: int, slots: _Slots) -> None:
    if waiter.done():
        slots.release(slot)
    else:
        waiter.set_result(slot)


class _Zygote:
    """One running zygote process and its control socket."""

    def __init__(self, process: subprocess.Popen[bytes], control: socket.socket) -> None:
        self.process = process
        self.control = control
        # The zygote stages runs on a tmpfs of its own mount namespace (see
        # jail.prepare_root), reached through its root: nothing of a run is ever
        # written to the host's disk, where each file operation cost ~50 us, and it
        # all disappears with the zygote. The zygote is our unreaped child, so its
        # pid cannot name another process.
        self.runs_dir = f"/proc/{process.pid}/root{RUNS_DIR}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    async def send(self, message: dict[str, object], fds: list[int] | None = None) -> None:
        data = json.dumps(message).encode()
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                self.control.sendmsg([data], ancillary)
                return
            except BlockingIOError:
                # The zygote reads constantly; a full socket means it is busy forking.
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.005)

    def stop(self) -> None:
        """Closing the control socket tells the zygote to kill its runs and exit."""
        self.control.close()
        try:
            self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ZygoteSandbox:
    """Runs each submission in a jailed child of a warm zygote; see ``docs/security.md``.

    ``run`` may be awaited concurrently up to ``slots`` times; more callers wait for
    a free slot. ``start`` is optional (the first run starts the zygote) but lets a
    worker fail at start-up rather than at its first submission.
    """

    def __init__(
        self,
        *,
        slots: int,
        python: str = sys.executable,
        state_dir: str | None = None,
        uid_base: int = UID_BASE,
        process_limit: int = PROCESS_LIMIT,
        tmp_bytes: int = TMP_LIMIT,
        spares: int | None = None,
        cgroups: CgroupMode = "auto",
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.cgroups = cgroups
        # Whether the running zygote gives each process a cgroup (pids.max,
        # memory.max) and, if not, why: known once it has started.
        self.cgroup_limits = False
        self.cgroups_unused = ""
        self.slots = slots
        # The real binary, not a venv's link to it: its prefix is what the jail binds.
        self.python = os.path.realpath(python)
        # As root, each slot runs as a uid of its own; otherwise as the invoking user,
        # inside user namespaces (see jail.py). Decided by who starts the zygote.
        self.privileged = os.geteuid() == 0
        self.state_dir = default_state_dir() if state_dir is None else state_dir
        self.uid_base = uid_base
        self.process_limit = process_limit
        self.tmp_bytes = tmp_bytes
        # Children the zygote keeps isolated ahead of time, to become a run's judge or
        # student process: two per slot by default.
        self.spares = 2 * slots if spares is None else spares
        self._slots = _Slots(slots)
        self._run_ids = itertools.count(1)
        self._zygote: _Zygote | None = None
        self._starting: asyncio.Future[_Zygote] | None = None
        self._uids: UidClaim | None = None
        self._home: str | None = None

    @property
    def uids(self) -> tuple[int, ...]:
        """The host uids of the slots (empty until started, and when unprivileged)."""
        return tuple(self._uids.uids) if self._uids is not None else ()

    @property
    def zygote_pid(self) -> int | None:
        zygote = self._zygote
        return zygote.process.pid if zygote is not None and zygote.alive else None

    @property
    def runs_dir(self) -> str | None:
        """Where runs are staged (ours only, never seen by a run); None without a zygote."""
        zygote = self._zygote
        return zygote.runs_dir if zygote is not None and zygote.alive else None

    async def start(self) -> None:
        await self._running_zygote()

    async def close(self) -> None:
        zygote, self._zygote = self._zygote, None
        if zygote is not None:
            await asyncio.to_thread(zygote.stop)
        if self._uids is not None:
            self._uids.release()
            self._uids = None
        if self._home is not None:
            await asyncio.to_thread(remove_workdir, self._home)
            self._home = None

    async def run(self, spec: RunSpec, *, on_progress: ProgressCallback | None = None) -> RunResult:
        """Run ``spec``'s tests; every student behaviour becomes a ``RunResult``."""
        slot = await self._slots.acquire()
        try:
            return await run_judged(spec, _ZygoteLaunch(self, spec, slot), on_progress)
        finally:
            self._slots.release(slot)

    def _slot_uids(self, slot: int) -> tuple[int, int]:
        """The host uids of ``slot``'s judge and student processes: unprivileged, the
        invoking user's for both (namespaces, not uids, keep them apart)."""
        if not self.privileged:
            return os.getuid(), os.getuid()
        assert self._uids is not None
        return self._uids.uids[slot], self._uids.uids[self.slots + slot]

    async def _running_zygote(self) -> _Zygote:
        if self._zygote is not None and self._zygote.alive:
            return self._zygote
        starting = self._starting
        if starting is None or starting.get_loop() is not asyncio.get_running_loop():
            # Concurrent runs share one start instead of racing to spawn zygotes.
            starting = self._starting = asyncio.ensure_future(self._start_zygote())
        try:
            return await asyncio.shield(starting)
        finally:
            if starting.done() and self._starting is starting:
                self._starting = None

    async def _start_zygote(self) -> _Zygote:
        if self._zygote is not None:
            log.warning("sandbox.zygote_restarted", exit=self._zygote.process.returncode)
            await asyncio.to_thread(self._zygote.stop)
            self._zygote = None
        if self._home is None:
            private_directory(self.state_dir)
            _remove_stale_homes(self.state_dir)
            self._home = tempfile.mkdtemp(prefix=f"zygote-{os.getpid()}-", dir=self.state_dir)
            os.mkdir(os.path.join(self._home, "root"))
        if not self.privileged:
            _check_readable(self.python, launch.JAILED_DIR)
        elif self._uids is None:
            # Two per slot: the judge's and the student's.
            self._uids = UidClaim(
                os.path.join(self.state_dir, "uids"), 2 * self.slots, base=self.uid_base
            )
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        settings = {
            "mount_point": os.path.join(self._home, "root"),
            "tmp_bytes": self.tmp_bytes,
            "spares": self.spares,
            "slots": self.slots,
            "cgroups": self.cgroups,
        }
        try:
            # Spawned from this thread, not a worker thread, and with nothing of
            # ours: no environment, no descriptors but the socket, its own session.
            process = subprocess.Popen(  # noqa: ASYNC220 (fast, and must be this thread)
                launch.command(self.python, "zygote", str(theirs.fileno()), json.dumps(settings)),
                env=launch.BARE_ENVIRONMENT,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                close_fds=True,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        zygote = _Zygote(process, ours)
        try:
            loop = asyncio.get_running_loop()
            hello = await asyncio.wait_for(loop.sock_recv(ours, 4096), START_TIMEOUT_S)
            event = json.loads(hello) if hello else {}
            if event.get("event") != "ready":
                problem = event.get("message", "it exited")
                raise ZygoteFailed(f"the sandbox zygote could not start: {problem}")
        except BaseException:
            await asyncio.to_thread(zygote.stop)
            raise
        self.cgroup_limits = bool(event.get("cgroups"))
        self.cgroups_unused = str(event.get("cgroups_unused", ""))
        log.info(
            "sandbox.zygote_started",
            pid=process.pid,
            slots=self.slots,
            limits="cgroup v2 and rlimits" if self.cgroup_limits else "rlimits",
            cgroups_unused=self.cgroups_unused or None,
        )
        self._zygote = zygote
        return zygote


class _ZygoteLaunch:
    """One run as a child of the zygote, in one of its slots."""

    def __init__(self, sandbox: ZygoteSandbox, spec: RunSpec, slot: int) -> None:
        self.sandbox = sandbox
        self.spec = spec
        self.slot = slot
        self.run_id = next(sandbox._run_ids)
        self.zygote: _Zygote | None = None
        self.status = bytearray()  # the zygote's report of the run, JSON
        self.extra_readers: tuple[Callable[[bytes], None], ...] = (self.status.extend,)
        # The run sees its staging directory bound read-only (jail.enter).
        self.run_writes_staging = False
        self.finished = False

    async def make_staging(self) -> str:
        self.zygote = await self.sandbox._running_zygote()
        return tempfile.mkdtemp(prefix="run-", dir=self.zygote.runs_dir)

    async def start(self, staging: str, nonce: str, write_ends: list[int]) -> None:
        """Write the judge's configuration beside the views and ask the zygote to
        start the run: it reads the configuration before the judge drops privileges,
        and never shows it inside."""
        assert self.zygote is not None
        config = judge_config(self.spec, nonce)
        compiled = compiled_tests(self.spec.files.get(TESTS_FILE, b""))
        if compiled is not None:
            config["tests_code"] = compiled
        _write_judge_config(staging, config)
        spec, process_limit = self.spec, self.sandbox.process_limit
        uid, student_uid = self.sandbox._slot_uids(self.slot)
        request = {
            "op": "run",
            "id": self.run_id,
            "run": os.path.basename(staging),
            # The zygote reuses a network namespace per slot between its runs.
            "slot": self.slot,
            "uid": uid,
            "gid": uid,
            "student_uid": student_uid,
            "student_gid": student_uid,
            "module": spec.module,
            "output_limit": spec.output_limit_in_run,
            "time_limit_s": spec.time_limit_s,
            "limits": spec.rlimits(
                address_space_bytes=spec.judge_memory_bytes, processes=process_limit
            ),
            "student_limits": spec.rlimits(
                address_space_bytes=spec.memory_mb * 1024 * 1024, processes=process_limit
            ),
        }
        await self.zygote.send(request, write_ends)

    async def wait(self, pipes: RunPipes) -> Exit | str:
        assert self.zygote is not None
        # The status pipe closes once the zygote has reaped the run.
        done, _ = await asyncio.wait(
            [pipes.closed[-1]], timeout=self.spec.time_limit_s + ZYGOTE_GRACE_S
        )
        if not done:
            log.error("sandbox.zygote_unresponsive", pid=self.zygote.process.pid)
            self.zygote.process.kill()  # restarted by the next run
            return "The sandbox did not report the run in time."
        # The run's namespace is gone, and with it every writer of the pipes.
        self.finished = True
        outcome: dict[str, Any] = (
            json.loads(self.status) if self.status else {"error": "the sandbox zygote died"}
        )
        if "error" in outcome:
            log.error("sandbox.run_failed", error=outcome["error"])
            return f"The sandbox failed: {outcome['error']}"
        # The judge's own cgroup limits: the tests themselves, never the student's code.
        grader_limits = tuple(str(limit) for limit in outcome.get("exceeded") or ())
        if grader_limits:
            log.warning("sandbox.judge_limit_reached", limits=list(grader_limits))
        return Exit(
            returncode=os.waitstatus_to_exitcode(outcome["status"]),
            timed_out=bool(outcome["timed_out"]),
            duration_ms=int(outcome["ms"]),
            grader_limits=grader_limits,
        )

    async def abort(self, pipes: RunPipes) -> None:
        zygote = self.zygote
        if self.finished or zygote is None or not zygote.alive or not pipes.closed:
            return
        # The slot's uid may only serve the next run once this one is dead and reaped.
        with contextlib.suppress(OSError):
            await zygote.send({"op": "kill", "id": self.run_id})
        await asyncio.wait([pipes.closed[-1]], timeout=ZYGOTE_GRACE_S)


@functools.lru_cache(maxsize=COMPILED_TESTS_KEPT)
def compiled_tests(source: bytes) -> dict[str, str] | None:
    """An assignment's ``tests.py`` compiled as the judge would compile it in a zygote
    run (``/task/tests.py``, no optimisation), marshalled, with this interpreter's
    magic number: a judge of the same interpreter version loads it instead of
    compiling the file again, which was most of its own start. Kept for the next
    submissions of the assignment. None where the judge had better compile it itself
    (too large, or not valid Python: the judge then reports why).

    Only the tests, which the host already holds and trusts, and only towards the
    judge: nothing is ever unmarshalled that a run could have written."""
    if not source or len(source) > COMPILED_TESTS_BYTES:
        return None
    path = os.path.join(TASK_DIR, TESTS_FILE)
    try:
        code = compile(source, path, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return {
        "magic": importlib.util.MAGIC_NUMBER.hex(),
        "code": base64.b64encode(marshal.dumps(code)).decode("ascii"),
    }


def _write_judge_config(staging: str, config: dict[str, object]) -> None:
    # One write: json.dump would write each piece of the encoding through the file.
    with open(os.path.join(staging, JUDGE_CONFIG), "xb") as file:
        file.write(json.dumps(config).encode())


def default_state_dir() -> str:
    """Where the sandbox keeps its state: root's ``/run/gradeflow-sandbox``, or a
    private directory of the invoking user's.

    Unprivileged, ``$XDG_RUNTIME_DIR`` when it is a directory of ours that no one
    else may write (it is per user, and emptied at logout), else a directory of
    ours in ``/tmp``, named by our uid; ``private_directory`` then refuses it if
    someone else created it first, or made it a link.
    """
    if os.geteuid() == 0:
        return DEFAULT_STATE_DIR
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime.startswith("/"):
        try:
            info = os.lstat(runtime)
        except OSError:
            info = None
        if (
            info is not None
            and stat.S_ISDIR(info.st_mode)
            and info.st_uid == os.geteuid()
            and not info.st_mode & 0o022
        ):
            return os.path.join(runtime, "gradeflow-sandbox")
    return os.path.join(tempfile.gettempdir(), f"gradeflow-sandbox-{os.geteuid()}")


def _check_readable(python: str, package_dir: str) -> None:
    """Unprivileged, the zygote can start only if this user may run the interpreter
    and read the sandbox's modules (an interpreter under /root is not)."""
    if not os.access(python, os.X_OK):
        raise ZygoteFailed(
            f"the sandbox zygote could not start: {python} cannot be executed by "
            f"uid {os.getuid()}; use an interpreter this user can run"
        )
    if not os.access(os.path.join(package_dir, "zygote.py"), os.R_OK):
        raise ZygoteFailed(
            f"the sandbox zygote could not start: {package_dir} cannot be read by "
            f"uid {os.getuid()}; install gradeflow where this user can read it"
        )


def _remove_stale_homes(state_dir: str) -> None:
    """Remove the directories of zygotes whose worker process no longer exists."""
    for entry in os.scandir(state_dir):
        if not entry.name.startswith("zygote-") or not entry.is_dir(follow_symlinks=False):
            continue
        pid = entry.name.split("-")[1]
        if pid.isdigit() and not process_exists(int(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)
