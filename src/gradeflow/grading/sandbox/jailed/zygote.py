"""The zygote: a warm fork server that starts every grading run as a jailed child.

``ZygoteSandbox`` starts one zygote per worker process, as host root, with
``python -I -S -B`` and a minimal environment; the zygote imports ``unittest``,
the judge, the student server and the modules student code commonly uses (never
anything of an assignment), then serves requests on
its control socket (AF_UNIX, SOCK_SEQPACKET: one JSON message each):

- ``run``: the message carries the paths of the run's configuration and task
  directory, the slot's uid and gid, the limits, and four descriptors (stdout,
  stderr, result channel, status). The zygote forks a child that is PID 1 of a new
  PID namespace; the child jails itself (``jail.enter``) and runs the judge, which
  asks over its request socket for its student processes (``spawn``: forked the
  same way, into namespaces of their own; ``end``: killed and reaped).
  When the child has been reaped, its wait status, whether the wall clock ended
  it and its duration are written to the status pipe, which is then closed.
- ``kill``: SIGKILL a run (the worker gave up on it, e.g. cancelled).

The zygote enforces each run's wall-clock limit itself, by SIGKILL: the child is
PID 1 of its namespace, so its death takes every process of the run with it, and
no signal sent from inside the run can reach the zygote. The zygote exits when
the control socket closes (the worker closed it or died), killing its runs first;
every child also has a parent-death signal, so no run outlives its zygote.

Standard library only, started without gradeflow's dependencies.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import gc
import io
import json
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from gradeflow.grading.sandbox.jailed import (
    cgroups,
    jail,
    judge,
    linux,
    rehearsal,
    seccomp,
    spawn,
    student,
    wire,
)

FDS_PER_RUN = 4  # stdout, stderr, result channel, status
# Descriptors a child gets after stdout and stderr: the judge its result channel,
# its request socket to us and its socket to its first student process; a student
# its socket to the judge.
EXTRA_FDS = {"judge": 3, "student": 1}
# Student processes one run may ask for (the judge restarts one after each crash).
MAX_STUDENTS = 256
SETUP_FAILED_EXIT = 125
# What a spare says with its mount namespace once it is isolated (_offer_namespace).
ISOLATED = b"isolated"
# With a cgroup per process, pids.max is the process limit; RLIMIT_NPROC stays as a
# backstop above it, so the limit that stops a fork bomb is the one that says so
# (pids.events).
NPROC_BACKSTOP_FACTOR = 2
# A cgroup the kernel still counts a task in after its process was reaped (an exiting
# task, for a moment) is removed again on this many turns of the loop, and this far
# apart while the zygote shuts down.
CGROUP_REMOVAL_TRIES = 200
CGROUP_RETRY_S = 0.01
# Modules that student code often imports: imported once here, they cost a run
# nothing. Only modules that hold no per-process state (random reseeds on fork).
WARM_MODULES = [
    "abc",
    "bisect",
    "collections",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "heapq",
    "itertools",
    "math",
    "operator",
    "random",
    "re",
    "statistics",
    "string",
    "textwrap",
    "typing",
]


@dataclass
class _Run:
    id: int
    slot: int | None
    pid: int
    pidfd: int
    status_fd: int
    started: float
    deadline: float
    request: dict[str, Any]
    # The run's stdout and stderr, kept to give to its student processes.
    outputs: list[int]
    # Our end of the judge's request socket (see _serve_judge).
    requests: socket.socket
    student: int | None = None  # pid of the current student process
    students: int = 0
    # Each process's cgroup, where the zygote has a cgroup v2 subtree.
    judge_cgroup: cgroups.ProcessCgroup | None = None
    student_cgroup: cgroups.ProcessCgroup | None = None
    timed_out: bool = False
    killed: bool = False


@dataclass
class _Requests:
    """Selector data of a run's request socket."""

    run: _Run


@dataclass
class _Spare:
    """A child already isolated (``jail.isolate``), waiting on ``channel`` for its run."""

    pid: int
    pidfd: int
    channel: socket.socket


@dataclass
class _Handed:
    """A spare that became a run's process, until it is reaped.

    ``namespace``: its mount namespace, if it offered it in time. Dropping the last
    reference to a mount namespace makes the kernel unmount its tree and wait for an
    RCU grace period, several ms on a busy machine: held here, that wait is not part
    of the process's exit, which the run's result waits for. ``channel`` is closed
    only then too: closed with an offer unread, it would reset the spare's receive of
    its part.
    """

    channel: socket.socket
    namespace: int | None

    def close(self) -> None:
        self.channel.close()
        if self.namespace is not None:
            os.close(self.namespace)


@dataclass
class _Zygote:
    control: socket.socket
    seccomp_filter: bytes
    last_cap: int
    pid_namespace: int
    # Only the zygote holds the write end: children see end-of-file once it is dead.
    lifeline: int
    tmp_bytes: int
    # One network namespace per slot, reused by the slot's runs one after the other
    # (see jail.join_network): a new one per run costs the kernel ~0.8 ms to create
    # and tear down.
    networks: list[int]
    # Spares take the run-independent half of the jail off each run's critical path,
    # and it happens on the other CPU while the previous run executes.
    spares_wanted: int
    # None: rlimits only (no usable cgroup v2 subtree, or turned off), and why.
    cgroup_subtree: cgroups.Subtree | None = None
    cgroups_unused: str = ""
    # Cgroups whose removal the kernel refused once, with the tries left.
    busy_cgroups: list[tuple[cgroups.ProcessCgroup, int]] = field(default_factory=list)
    selector: selectors.DefaultSelector = field(default_factory=selectors.DefaultSelector)
    runs: dict[int, _Run] = field(default_factory=dict)
    spares: list[_Spare] = field(default_factory=list)
    # Spares that became a run's judge or student process, by pid, until reaped; then
    # let go of once the loop has answered the events of its turn.
    handed: dict[int, _Handed] = field(default_factory=dict)
    reaped: list[_Handed] = field(default_factory=list)

    def serve(self) -> None:
        self.control.setblocking(False)
        self.selector.register(self.control, selectors.EVENT_READ, None)
        self._replenish()
        while True:
            # Spares are made only when nothing is waiting: a fork costs a few ms,
            # which a judge asking for its student must not wait for.
            wanted = len(self.spares) < self.spares_wanted
            events = self.selector.select(0 if wanted else self._next_timeout())
            if not events and wanted:
                self._replenish(most=1)
            for key, _ in events:
                if self.selector.get_map().get(key.fd) is not key:
                    # Unregistered by an earlier event of this batch: a run reaped
                    # before its judge's request was read (its socket is closed now),
                    # a spare handed out before its death was seen.
                    continue
                if key.data is None:
                    if not self._receive():
                        return
                elif isinstance(key.data, _Spare):
                    self._spare_died(key.data)
                elif isinstance(key.data, _Requests):
                    self._serve_judge(key.data.run)
                else:
                    self._reap(key.data)
            self._enforce_deadlines()
            if self.reaped:
                for handed in self.reaped:
                    handed.close()
                self.reaped.clear()
            if self.busy_cgroups:
                self._remove_busy_cgroups()

    def shutdown(self) -> None:
        for spare in list(self.spares):
            with contextlib.suppress(ProcessLookupError):
                os.kill(spare.pid, signal.SIGKILL)
            self._spare_died(spare)
        for run in list(self.runs.values()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(run.pid, signal.SIGKILL)
            self._reap(run)
        for handed in [*self.handed.values(), *self.reaped]:
            handed.close()
        for _ in range(CGROUP_REMOVAL_TRIES):
            if not self.busy_cgroups:
                break
            time.sleep(CGROUP_RETRY_S)
            self._remove_busy_cgroups()
        if self.cgroup_subtree is not None and not self.cgroup_subtree.remove():
            print("gradeflow zygote: its cgroup subtree could not be removed", file=sys.stderr)

    def _next_timeout(self) -> float | None:
        if self.busy_cgroups:
            return CGROUP_RETRY_S
        if not self.runs:
            return None
        pending = [run.deadline for run in self.runs.values() if not run.killed]
        return max(0.0, min(pending) - time.monotonic()) if pending else None

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for run in self.runs.values():
            if not run.killed and now >= run.deadline:
                run.timed_out = run.killed = True
                # Safe from pid reuse: the child is ours and not reaped yet.
                os.kill(run.pid, signal.SIGKILL)
                self._end_student(run)

    def _receive(self) -> bool:
        """Handle one control message; False once the worker has gone."""
        try:
            data, fds = _receive_with_fds(self.control, FDS_PER_RUN)
        except BlockingIOError:
            return True
        except ConnectionError:
            return False
        if not data:
            _close_all(fds)
            return False
        request = json.loads(data)
        if request["op"] == "run" and len(fds) == FDS_PER_RUN:
            self._start(request, fds)
        elif request["op"] == "kill":
            _close_all(fds)
            run = self.runs.get(request["id"])
            if run is not None and not run.killed:
                run.killed = True
                os.kill(run.pid, signal.SIGKILL)
        else:
            _close_all(fds)
        return True

    def _fork(self) -> int:
        """Fork a child that is PID 1 of a new PID namespace (0 in the child)."""
        linux.unshare(linux.CLONE_NEWPID)
        try:
            pid = os.fork()
        except BaseException:
            linux.setns(self.pid_namespace, linux.CLONE_NEWPID)
            raise
        if pid != 0:
            # The zygote (never the child) goes back to its own namespace, so that
            # the next child gets a fresh one too. (Not "getpid() != 1": an
            # unprivileged zygote is PID 1 of its own namespace.)
            linux.setns(self.pid_namespace, linux.CLONE_NEWPID)
        return pid

    def _replenish(self, most: int | None = None) -> None:
        made = 0
        while len(self.spares) < self.spares_wanted and (most is None or made < most):
            made += 1
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                pid = self._fork()
                if pid == 0:
                    ours.close()
                    self._spare(theirs)
                pidfd = os.pidfd_open(pid)
            except OSError as exc:
                ours.close()
                self.spares_wanted = len(self.spares)
                print(f"gradeflow zygote: no spare children: {exc}", file=sys.stderr)
                return
            finally:
                theirs.close()
            spare = _Spare(pid, pidfd, ours)
            self.spares.append(spare)
            self.selector.register(pidfd, selectors.EVENT_READ, spare)

    def _spare_died(self, spare: _Spare) -> None:
        os.waitpid(spare.pid, 0)
        self.selector.unregister(spare.pidfd)
        os.close(spare.pidfd)
        spare.channel.close()
        self.spares.remove(spare)
        # A spare that dies unused could not isolate itself, and the next would fail
        # the same way: stop keeping them; runs then fork on demand and report why.
        self.spares_wanted = max(0, self.spares_wanted - 1)

    def _network_for(self, slot: int | None, role: str) -> int | None:
        """The slot's network namespace for ``role``, or None (the process makes a new
        one) while another process of that slot and role is alive, e.g. of a run the
        worker gave up waiting for. Judges and students never share one."""
        slots = len(self.networks) // 2
        if slot is None or not 0 <= slot < slots:
            return None
        if role == "judge":
            if any(run.slot == slot for run in self.runs.values()):
                return None
            return self.networks[slot]
        if any(run.slot == slot and run.student is not None for run in self.runs.values()):
            return None
        return self.networks[slots + slot]

    def _start(self, request: dict[str, Any], fds: list[int]) -> None:
        stdout, stderr, result, status_fd = fds
        slot = request.get("slot")
        slot = slot if isinstance(slot, int) else None
        request["role"] = "judge"
        started = request["started"] = time.monotonic()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        run = _Run(
            id=int(request["id"]),
            slot=slot,
            pid=0,
            pidfd=-1,
            status_fd=status_fd,
            started=started,
            deadline=started + float(request["time_limit_s"]),
            request=request,
            outputs=[stdout, stderr],
            requests=ours,
        )
        # The student process first, handed to the judge as it starts: it imports the
        # student's code while the judge sets itself up, and the judge need not ask.
        first_student = self._start_student(run)
        try:
            if first_student is None:
                raise OSError("no student process could be started")
            judge_fds = [stdout, stderr, result, theirs.fileno(), first_student.fileno()]
            run.judge_cgroup = self._new_cgroup(f"run-{run.id}-judge", request["limits"])
            run.pid = self._spawn(request, judge_fds, slot, run.judge_cgroup)
            run.pidfd = os.pidfd_open(run.pid)
        except OSError as exc:
            self._end_student(run)
            if run.pid:
                os.kill(run.pid, signal.SIGKILL)
                os.waitpid(run.pid, 0)
                self._reaped(run.pid)
            self._release_cgroup(run.judge_cgroup)
            _write_status(status_fd, {"error": f"starting the run failed: {exc}"})
            _close_all([stdout, stderr, result])
            ours.close()
            return
        finally:
            theirs.close()
            if first_student is not None:
                first_student.close()
        _close_all([result])
        self.runs[run.id] = run
        self.selector.register(run.pidfd, selectors.EVENT_READ, run)
        ours.setblocking(False)
        self.selector.register(ours, selectors.EVENT_READ, _Requests(run))

    def _spawn(
        self,
        request: dict[str, Any],
        fds: list[int],
        slot: int | None,
        cgroup: cgroups.ProcessCgroup | None,
    ) -> int:
        """Start a judge or student process, by a spare if there is one; its pid.

        With a ``cgroup``, the process is in it before it runs anything of the run."""
        network = self._network_for(slot, str(request["role"]))
        pid = self._hand_to_spare(request, fds, network, cgroup)
        if pid is None:
            procs = cgroup.open_procs() if cgroup is not None else None
            try:
                pid = self._fork()
            except BaseException:
                if procs is not None:
                    os.close(procs)
                raise
            if pid == 0:
                self._child(request, fds, network, procs)
            if procs is not None:
                os.close(procs)
        return pid

    def _new_cgroup(self, name: str, limits: dict[str, int]) -> cgroups.ProcessCgroup | None:
        """A cgroup with the process's memory and process limits, if the zygote has a
        subtree: the address-space limit is the memory limit too, for all of the
        process's descendants together."""
        if self.cgroup_subtree is None:
            return None
        return self.cgroup_subtree.new_process_cgroup(
            name,
            memory_bytes=int(limits["address_space_bytes"]),
            processes=int(limits["processes"]),
        )

    def _release_cgroup(self, cgroup: cgroups.ProcessCgroup | None) -> list[str]:
        """After its process was reaped: which limits stopped something in ``cgroup``,
        then kill whatever is left in it and remove it (later, if still busy)."""
        if cgroup is None:
            return []
        try:
            exceeded = cgroup.exceeded()
            cgroup.kill()
        except OSError:
            exceeded = []
        self._remove_cgroup(cgroup, CGROUP_REMOVAL_TRIES)
        return exceeded

    def _remove_busy_cgroups(self) -> None:
        busy, self.busy_cgroups = self.busy_cgroups, []
        for cgroup, tries in busy:
            self._remove_cgroup(cgroup, tries - 1)

    def _remove_cgroup(self, cgroup: cgroups.ProcessCgroup, tries_left: int) -> None:
        """Remove ``cgroup``, or keep it to try again from the loop while tries are left."""
        try:
            if cgroup.remove():
                return
        except OSError as exc:
            print(
                f"gradeflow zygote: cgroup {cgroup.name} cannot be removed: {exc}", file=sys.stderr
            )
            return
        if tries_left > 0:
            self.busy_cgroups.append((cgroup, tries_left))
        else:
            print(f"gradeflow zygote: cgroup {cgroup.name} stays busy", file=sys.stderr)

    def _serve_judge(self, run: _Run) -> None:
        """A request of a run's judge: ``spawn`` a student process, or ``end`` it."""
        try:
            data = run.requests.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the judge is gone; its run is reaped separately
            self.selector.unregister(run.requests)
            return
        try:
            op = json.loads(data).get("op")
        except (ValueError, AttributeError):
            op = None
        if op == "end":
            status, exceeded = self._end_student(run)
            _send_quietly(run.requests, {"status": status, "exceeded": exceeded})
        elif op == "spawn":
            self._end_student(run)
            judge_end = self._start_student(run)
            if judge_end is None:
                _send_quietly(run.requests, {"error": "no student process could be started"})
                return
            with contextlib.suppress(OSError):
                run.requests.sendmsg(
                    [b'{"ok": true}'],
                    [
                        (
                            socket.SOL_SOCKET,
                            socket.SCM_RIGHTS,
                            array.array("i", [judge_end.fileno()]),
                        )
                    ],
                )
            judge_end.close()
        else:
            _send_quietly(run.requests, {"error": "unknown request"})

    def _start_student(self, run: _Run) -> socket.socket | None:
        """Start a student process for ``run``; the judge's end of its socket."""
        if run.students >= MAX_STUDENTS or run.killed:
            return None
        request = {**run.request, "role": "student"}
        judge_end, student_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            name = f"run-{run.id}-student-{run.students + 1}"
            run.student_cgroup = self._new_cgroup(name, request["student_limits"])
            run.student = self._spawn(
                request, [*run.outputs, student_end.fileno()], run.slot, run.student_cgroup
            )
        except OSError as exc:
            self._release_cgroup(run.student_cgroup)
            run.student_cgroup = None
            judge_end.close()
            print(f"gradeflow zygote: starting a student process failed: {exc}", file=sys.stderr)
            return None
        finally:
            student_end.close()
        run.students += 1
        return judge_end

    def _end_student(self, run: _Run) -> tuple[int | None, list[str]]:
        """Kill and reap the run's student process, if any; its wait status, and which
        of its cgroup's limits stopped something (``memory``, ``processes``)."""
        pid, run.student = run.student, None
        cgroup, run.student_cgroup = run.student_cgroup, None
        if pid is None:
            self._release_cgroup(cgroup)
            return None, []
        # Ours and unreaped until the waitpid below, so the pid names it.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        self._reaped(pid)
        return status, self._release_cgroup(cgroup)

    def _reaped(self, pid: int) -> None:
        """``pid`` was a run's process, now reaped."""
        handed = self.handed.pop(pid, None)
        if handed is not None:
            self.reaped.append(handed)

    def _hand_to_spare(
        self,
        request: dict[str, Any],
        fds: list[int],
        network: int | None,
        cgroup: cgroups.ProcessCgroup | None,
    ) -> int | None:
        """Give the run to a spare; its pid, or None if there is none to give it to.

        The spare gets ``fds`` and, last, the network namespace to join if any. It
        is moved into ``cgroup`` first: until its part arrives, it only waits."""
        fds = fds if network is None else [*fds, network]
        while self.spares:
            spare = self.spares.pop(0)  # the oldest: the likeliest to be isolated by now
            self.selector.unregister(spare.pidfd)
            os.close(spare.pidfd)  # the run opens its own
            namespace = _offered_namespace(spare.channel)
            try:
                if cgroup is not None:
                    cgroup.add(spare.pid)
                spare.channel.sendmsg(
                    [json.dumps(request).encode()],
                    [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))],
                )
            except OSError:
                _Handed(spare.channel, namespace).close()
                with contextlib.suppress(ProcessLookupError):
                    os.kill(spare.pid, signal.SIGKILL)
                os.waitpid(spare.pid, 0)
                continue
            self.handed[spare.pid] = _Handed(spare.channel, namespace)
            return spare.pid
        return None

    def _reap(self, run: _Run) -> None:
        _, status = os.waitpid(run.pid, 0)
        self._reaped(run.pid)
        self._end_student(run)
        exceeded = self._release_cgroup(run.judge_cgroup)
        duration_ms = round((time.monotonic() - run.started) * 1000)
        self.selector.unregister(run.pidfd)
        os.close(run.pidfd)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(run.requests)
        run.requests.close()
        _close_all(run.outputs)
        del self.runs[run.id]
        _write_status(
            run.status_fd,
            {
                "status": status,
                "timed_out": run.timed_out,
                "ms": duration_ms,
                "exceeded": exceeded,
            },
        )

    def _child(
        self, request: dict[str, Any], fds: list[int], network: int | None, procs: int | None
    ) -> NoReturn:
        """A judge or student forked on demand: PID 1 of its namespace. Never returns.

        ``procs``: its cgroup's ``cgroup.procs``, which it enters first of all."""
        try:
            if procs is not None:
                os.write(procs, b"0")
                os.close(procs)
            os.setsid()
            lifeline, kept = self._take_descriptors(fds, network)
            jail.isolate(tmp_bytes=self.tmp_bytes)
            jail.join_network(kept)
            self._run(request, lifeline)
        except BaseException as exc:  # nothing may return into the zygote's loop
            _report(exc)
        os._exit(SETUP_FAILED_EXIT)

    def _spare(self, channel: socket.socket) -> NoReturn:
        """A spare child: isolate, wait for a judge's or student's part, play it."""
        try:
            os.setsid()
            linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)  # while it waits
            # Above all other runs' status pipes: holding one would keep its
            # worker from ever seeing the end of that run.
            _close_all_but({channel.fileno(), self.lifeline, 2})
            jail.isolate(tmp_bytes=self.tmp_bytes)
            channel.setblocking(True)
            _offer_namespace(channel)
            data, fds = _receive_with_fds(channel, 2 + max(EXTRA_FDS.values()) + 1)
            channel.close()
            if not data:
                os._exit(0)  # the zygote is shutting down
            request = json.loads(data)
            count = 2 + EXTRA_FDS[request["role"]]
            if len(fds) not in (count, count + 1):
                os._exit(0)
            jail.join_network(fds[count] if len(fds) > count else None)
            lifeline, _ = self._take_descriptors(fds[:count])
            self._run(request, lifeline)
        except BaseException as exc:  # nothing may return into the zygote's loop
            _report(exc)
        os._exit(SETUP_FAILED_EXIT)

    def _take_descriptors(
        self, fds: list[int], network: int | None = None
    ) -> tuple[int, int | None]:
        """Leave only stdin (/dev/null), then ``fds`` (stdout, stderr and the role's
        sockets) from 1 on, then the lifeline; everything else of the zygote is closed.

        Returns the lifeline's number and that of a ``network`` namespace the process
        has yet to join (kept after the lifeline), if any."""
        devnull = os.open(os.devnull, os.O_RDWR)
        kept = [devnull, *fds, self.lifeline]
        if network is not None:
            kept.append(network)
        # Copied out of the way first, so no target number clobbers a source.
        sources = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in kept]
        for target, source in enumerate(sources):
            os.dup2(source, target, inheritable=target <= 2)
        os.closerange(len(sources), 2**31 - 1)
        _fresh_standard_streams()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        lifeline = len(fds) + 1
        return lifeline, (lifeline + 1 if network is not None else None)

    def _run(self, request: dict[str, Any], lifeline: int) -> NoReturn:
        """Jail this process as the run's judge or student, then play that part."""
        run = str(request["run"])
        is_student = request["role"] == "student"
        prefix = "student_" if is_student else ""
        config: dict[str, Any] = {}
        if not is_student:  # read while /runs is still there; it holds the nonce
            with open(os.path.join(jail.RUNS_DIR, run, jail.JUDGE_CONFIG), "rb") as file:
                config = json.load(file)
        limits = jail.Limits.from_dict(request[f"{prefix}limits"])
        if self.cgroup_subtree is not None:
            limits = replace(limits, processes=limits.processes * NPROC_BACKSTOP_FACTOR)
        jail.enter(
            run=run,
            view=jail.STUDENT_VIEW if is_student else jail.JUDGE_VIEW,
            uid=int(request[f"{prefix}uid"]),
            gid=int(request[f"{prefix}gid"]),
            limits=limits,
            last_cap=self.last_cap,
            seccomp_filter=self.seccomp_filter,
            lifeline=lifeline,
        )
        sys.argv = [""]
        if is_student:
            student.serve(3, str(request["module"]), int(request["output_limit"]))
        judge.serve(config, 3, spawn.ZygoteSpawner(4, first_student=5), float(request["started"]))


def _offer_namespace(channel: socket.socket) -> None:
    """A spare, isolated: give the zygote a reference to its new mount namespace (see
    ``_Handed``). It holds nothing of a run yet."""
    namespace = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        channel.sendmsg(
            [ISOLATED], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [namespace]))]
        )
    except OSError:
        pass  # the zygote has handed this spare its part already (or is gone)
    finally:
        os.close(namespace)


def _offered_namespace(channel: socket.socket) -> int | None:
    """The mount namespace a spare offered once isolated, if it has by now."""
    try:
        data, fds = _receive_with_fds(channel, 1, socket.MSG_DONTWAIT)
    except OSError:  # BlockingIOError: not isolated yet
        return None
    if data == ISOLATED and len(fds) == 1:
        return fds[0]
    _close_all(fds)
    return None


def _receive_with_fds(channel: socket.socket, most: int, flags: int = 0) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    # A control message comes whole in one receive, so this bounds its size too.
    data, ancillary, _, _ = channel.recvmsg(
        wire.RECEIVE_BYTES, socket.CMSG_SPACE(most * fds.itemsize), flags
    )
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


def _close_all_but(keep: set[int]) -> None:
    low = 0
    for fd in sorted(keep):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 2**31 - 1)


def _report(exc: BaseException) -> None:
    with contextlib.suppress(BaseException):
        os.write(2, f"gradeflow sandbox: {exc}\n".encode())


def _fresh_standard_streams() -> None:
    """Text streams over the run's pipes (the zygote's described /dev/null)."""
    stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), "utf-8", "backslashreplace")
    stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), "utf-8", "backslashreplace", line_buffering=True
    )
    sys.stdout = stdout
    sys.stderr = stderr
    # The originals too: the judge flushes them, and student code may use them.
    sys.__stdout__ = stdout  # type: ignore[misc]
    sys.__stderr__ = stderr  # type: ignore[misc]


def _send_quietly(channel: socket.socket, message: dict[str, object]) -> None:
    with contextlib.suppress(OSError):
        channel.send(json.dumps(message).encode())


def _write_status(fd: int, status: dict[str, object]) -> None:
    try:
        os.write(fd, json.dumps(status).encode())
    except OSError:
        pass  # the worker stopped waiting for this run
    finally:
        os.close(fd)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def main(argv: list[str]) -> None:
    """``argv``: the control socket's descriptor and a JSON object of settings."""
    control = socket.socket(fileno=int(argv[0]))
    settings = json.loads(argv[1])
    os.umask(0o022)
    # The worker's terminal may send SIGINT to its process group: the worker decides
    # when the zygote stops, by closing the control socket.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        zygote = _prepare(control, settings)
    except Exception as exc:
        # Said to the worker, which turns it into the reason the sandbox is unavailable.
        with contextlib.suppress(OSError):  # unless the worker is gone already
            control.send(json.dumps({"event": "failed", "message": str(exc)}).encode())
        raise SystemExit(1) from exc
    ready = {"event": "ready", "pid": os.getpid(), "cgroups": zygote.cgroup_subtree is not None}
    if zygote.cgroup_subtree is None:
        ready["cgroups_unused"] = zygote.cgroups_unused
    try:
        control.send(json.dumps(ready).encode())
    except OSError:
        # The worker stopped while this zygote started (a Ctrl-C): no one to serve.
        zygote.shutdown()
        return
    try:
        zygote.serve()
    finally:
        zygote.shutdown()


def _prepare(control: socket.socket, settings: dict[str, Any]) -> _Zygote:
    abi = seccomp.native_abi()
    if abi is None:
        raise jail.JailError(f"no seccomp filter is defined for {os.uname().machine}")
    for name in WARM_MODULES:
        __import__(name)
    slots = int(settings.get("slots", 0))
    # Started by a user other than root: everything below happens as root of a user
    # namespace of the zygote's own instead of the host's (see jail.py).
    privileged = os.geteuid() == 0
    if not privileged:
        jail.become_namespace_root()
    # Known before any child is forked, which then finds it cached.
    jail.in_initial_user_namespace()
    # While /sys/fs/cgroup is still visible (prepare_root hides it), and after the
    # user namespace, whose root then makes every later change to the subtree.
    subtree, cgroups_unused = _cgroup_subtree(str(settings.get("cgroups", "off")))
    zygote = _Zygote(
        control=control,
        seccomp_filter=seccomp.build_filter(abi),
        last_cap=linux.last_capability(),
        # Unprivileged, replaced below by the namespace the zygote is the init of.
        pid_namespace=os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC),
        lifeline=os.pipe()[0],
        tmp_bytes=int(settings["tmp_bytes"]),
        # Made while the host's /proc is still there, before prepare_root: one
        # for the judges and one for the students of each slot.
        networks=[jail.new_network_namespace() for _ in range(2 * slots)],
        spares_wanted=int(settings["spares"]),
        cgroup_subtree=subtree,
        cgroups_unused=cgroups_unused,
    )
    jail.set_environment()
    jail.prepare_root(
        # Started as the real interpreter binary (never a venv's link), so its own
        # prefixes are exactly what runs need of the interpreter's installation.
        view=jail.FilesystemView.for_interpreter((sys.prefix, sys.exec_prefix)),
        mount_point=settings["mount_point"],
    )
    if not privileged:
        # After prepare_root: the worker reaches the staging tmpfs through the root
        # of the process it started, which must share the mount namespace.
        jail.become_pid_namespace_init()
        os.close(zygote.pid_namespace)
        own = f"{jail.HOST_PROC}/self/ns/pid"
        zygote.pid_namespace = os.open(own, os.O_RDONLY | os.O_CLOEXEC)
    # Code a run uses is specialised and its caches filled here, once, instead of in
    # every run's processes (see rehearsal.py). Only a matter of speed.
    try:
        rehearsal.rehearse()
    except Exception as exc:
        print(f"gradeflow zygote: the rehearsal failed: {exc!r}", file=sys.stderr)
    # Objects that exist now are never collected: the children's garbage collector
    # then leaves their pages alone, and copy-on-write keeps them shared.
    gc.collect()
    gc.freeze()
    return zygote


def _cgroup_subtree(mode: str) -> tuple[cgroups.Subtree | None, str]:
    """The zygote's cgroup v2 subtree, or None and why not. ``mode``: ``auto`` (use one
    where there is one), ``on`` (refuse to start without one) or ``off``."""
    if mode == "off":
        return None, "cgroup limits are turned off"
    try:
        return cgroups.Subtree.create(os.getpid()), ""
    except cgroups.CgroupUnavailable as exc:
        if mode == "on":
            raise jail.JailError(f"cgroup v2 limits were asked for, but {exc}") from exc
        return None, str(exc)
