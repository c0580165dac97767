"""Benchmark: grading runs per second, the secure sandbox against a plain interpreter.

Usage: ``.venv/bin/python bench/sandbox.py [--runs N] [--calls N]`` (``make bench``), as root;
``--cgroup-cost [--runs N] [--rounds N]`` compares runs with per-process cgroup v2 limits
on and off instead (``make cgroup-vm CGROUP_VM_BENCH=...`` runs it where they exist).

Two workloads: a trivial assignment (one test of a one-line function) and a
typical one (the demo course's ``11-roman-numerals``: its reference solution
against its unittest file). Two ways to run each:

- baseline: a fresh ``python -I -S`` per run that sets the rlimits and runs the
  tests with ``unittest`` — the cost of an interpreter start, without isolation;
- gradeflow: ``ZygoteSandbox`` — namespaces, per-slot uid, rlimits, seccomp, the
  judge and student processes and the verdict, as the workers use it.

Each is measured with 1 and 2 slots (runs in flight at once). The first table:
median and p99 latency of a run, runs per second, and throughput relative to the
baseline with the same slots.

The second table is the cost of the tests reaching student code, which lives in
another process (every call, attribute read or iteration step is a round trip over
a socket). Measured inside real ``ZygoteSandbox`` runs: the tests time each
operation on a student object with ``perf_counter_ns`` and print the median and
p99, next to the same operation on an identical object defined in the test file
itself (a plain in-process call), timed in the same test.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import os
import platform
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from gradeflow.courses.discovery import discover_test_ids
from gradeflow.courses.format import load_assignment
from gradeflow.grading.sandbox import RunSpec, ZygoteSandbox

ROOT = Path(__file__).resolve().parents[1]
TYPICAL = ROOT / "demo" / "python-basics" / "11-roman-numerals"
TRIVIAL_TESTS = """\
import unittest
from solution import answer


class AnswerTest(unittest.TestCase):
    def test_answer(self):
        self.assertEqual(answer(), 42)
"""
# The baseline's own rlimits, as the sandbox sets them (CPU, memory, files, size).
BASELINE = """\
import resource, sys, unittest
resource.setrlimit(resource.RLIMIT_CPU, (6, 6))
resource.setrlimit(resource.RLIMIT_AS, (256 << 20, 256 << 20))
resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
sys.path.insert(0, ".")
program = unittest.main(module="tests", argv=["tests", "-q"], exit=False)
sys.exit(0 if program.result.wasSuccessful() else 1)
"""
# The calls workload: the same code as the student's module and, for the in-process
# figures, pasted into the test file.
CALLS_STUDENT = """\
def echo(value):
    return value


def echo_list(values):
    return list(values)


def numbers(count):
    for number in range(count):
        yield number


class Box:
    def __init__(self, value):
        self.value = value

    def double(self, value):
        return 2 * value
"""
# Each test times one operation on the student's object, then on the local one, and
# prints "BENCH what samples median p99 total" for both (ns); only the summaries
# cross the run's stdout.
CALLS_TESTS = """\
import time
import unittest

import solution

clock = time.perf_counter_ns
LIST = list(range(1000))


def summary(samples):
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]
    return f"{len(ordered)} {ordered[len(ordered) // 2]} {p99} {sum(ordered)}"


def each(operation, count):
    samples = []
    for i in range(count):
        started = clock()
        operation(i)
        samples.append(clock() - started)
    return samples


def each_list(echo_list, count):
    samples = []
    for _ in range(count):
        values = LIST[:]  # a new list each call: the same one would cross by reference
        started = clock()
        echo_list(values)
        samples.append(clock() - started)
    return samples


def each_item(numbers, count):
    samples = []
    for _ in range(max(1, count // 1000)):
        started = clock()
        for _ in numbers(1000):
            now = clock()
            samples.append(now - started)
            started = now
    return samples


def compare(what, measure, student, local):
    print("BENCH", what, summary(measure(student)), summary(measure(local)))


class CallsTest(unittest.TestCase):
    def test_call(self):
        self.assertEqual(solution.echo(7), 7)
        compare("call", lambda f: each(f, CALLS), solution.echo, echo)

    def test_list(self):
        self.assertEqual(solution.echo_list(LIST), LIST)
        compare("list", lambda f: each_list(f, LIST_CALLS), solution.echo_list, echo_list)
        # Every list that crossed stays shared until the test ends, and each later
        # message checks them all for changes: what a plain call costs now.
        compare("after_lists", lambda f: each(f, CALLS // 10), solution.echo, echo)

    def test_attribute(self):
        boxes = solution.Box(1), Box(1)
        self.assertEqual(boxes[0].value, 1)
        compare("attribute", lambda box: each(lambda i: box.value, CALLS), *boxes)

    def test_method(self):
        boxes = solution.Box(1), Box(1)
        self.assertEqual(boxes[0].double(2), 4)
        compare("method", lambda box: each(lambda i: box.double(i), CALLS), *boxes)

    def test_generator(self):
        self.assertEqual(list(solution.numbers(3)), [0, 1, 2])
        compare("generator", lambda f: each_item(f, CALLS), solution.numbers, numbers)

    def test_many_calls(self):
        totals = []
        for f in (solution.echo, echo):
            started = clock()
            for i in range(MANY_CALLS):
                f(i)
            totals.append(clock() - started)
        print("BENCH many", MANY_CALLS, *totals)
"""
MANY_CALLS = 100_000
# A fixed number, whatever --calls says: the lists passed stay shared until the test
# ends and each later message compares them all, so a call costs more the more
# lists came before it (the "after" row shows how much).
LIST_CALLS = 100


def trivial_spec() -> RunSpec:
    return RunSpec(
        files={
            "tests.py": TRIVIAL_TESTS.encode(),
            "solution.py": b"def answer():\n    return 42\n",
        },
        module="solution",
        test_ids=discover_test_ids(TRIVIAL_TESTS),
        time_limit_s=5,
        memory_mb=256,
    )


def typical_spec() -> RunSpec:
    assignment = load_assignment(TYPICAL)
    files = dict(assignment.support_files)
    files["tests.py"] = assignment.tests.encode()
    files[f"{assignment.module}.py"] = assignment.solution.encode()
    return RunSpec(
        files=files,
        module=assignment.module,
        test_ids=assignment.test_ids,
        time_limit_s=assignment.time_limit_s,
        memory_mb=assignment.memory_mb,
    )


def lay_out(spec: RunSpec) -> str:
    workdir = tempfile.mkdtemp(prefix="bench-baseline-")
    for path, content in spec.files.items():
        Path(workdir, path).parent.mkdir(parents=True, exist_ok=True)
        Path(workdir, path).write_bytes(content)
    return workdir


async def baseline_run(spec: RunSpec) -> None:
    """One plain interpreter run; the files are laid out as the sandbox would."""
    workdir = lay_out(spec)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-S",
            "-c",
            BASELINE,
            cwd=workdir,
            env={"PATH": "/usr/bin:/bin"},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"baseline run failed: {stderr.decode()[-500:]}")
    finally:
        shutil.rmtree(workdir)


@dataclass
class Measurement:
    median_ms: float
    p99_ms: float
    per_second: float


async def measure(run: Callable[[], Awaitable[None]], *, slots: int, runs: int) -> Measurement:
    for _ in range(3 * slots):  # warm-up: caches, the zygote's first forks
        await run()
    latencies: list[float] = []
    remaining = runs

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await run()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(slots)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Measurement(
        median_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        per_second=len(latencies) / elapsed,
    )


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


async def throughput(runs: int) -> list[tuple[str, str, int, Measurement, float]]:
    workloads = {"trivial": trivial_spec(), "typical": typical_spec()}
    rows: list[tuple[str, str, int, Measurement, float]] = []
    for name, spec in workloads.items():
        for slots in (1, 2):
            sandbox = ZygoteSandbox(slots=slots)
            await sandbox.start()
            try:

                async def secure_run(
                    spec: RunSpec = spec, sandbox: ZygoteSandbox = sandbox
                ) -> None:
                    result = await sandbox.run(spec)
                    if result.outcome != "passed":
                        raise RuntimeError(f"sandbox run failed: {result.message}")

                async def plain_run(spec: RunSpec = spec) -> None:
                    await baseline_run(spec)

                base = await measure(plain_run, slots=slots, runs=max(20, runs // 3))
                ours = await measure(secure_run, slots=slots, runs=runs)
            finally:
                await sandbox.close()
            rows.append((name, "baseline: python -I -S + rlimits", slots, base, 1.0))
            rows.append(
                (name, "gradeflow ZygoteSandbox", slots, ours, ours.per_second / base.per_second)
            )
    return rows


def calls_spec(test_ids: list[str], *, calls: int) -> RunSpec:
    constants = f"CALLS = {calls}\nLIST_CALLS = {LIST_CALLS}\nMANY_CALLS = {MANY_CALLS}\n"
    return RunSpec(
        files={
            "tests.py": (constants + CALLS_TESTS + "\n\n" + CALLS_STUDENT).encode(),
            "solution.py": CALLS_STUDENT.encode(),
        },
        module="solution",
        test_ids=test_ids,
        # One test may use at most half of the run's time limit (judge.TEST_SHARE).
        time_limit_s=60,
        memory_mb=512,
    )


@dataclass
class Timing:
    """One row of the calls table, in nanoseconds; the per-call fields are None for
    the 100,000-call test, which reports totals only."""

    what: str
    samples: int
    median: float | None
    p99: float | None
    total: float
    local_median: float | None
    local_p99: float | None
    local_total: float
    run_ms: int | None = None


async def run_calls(sandbox: ZygoteSandbox, spec: RunSpec) -> tuple[list[list[str]], int]:
    """The BENCH lines the tests printed, split in words, and the run's duration."""
    result = await sandbox.run(spec)
    if result.outcome != "passed":
        problems = "; ".join(f"{t.id}: {t.outcome} {t.message}" for t in result.tests)
        raise RuntimeError(f"calls run {result.outcome}: {result.message} {problems}")
    lines = [line.split()[1:] for line in result.stdout.splitlines() if line.startswith("BENCH ")]
    return lines, result.duration_ms


async def call_costs(calls: int) -> list[Timing]:
    per_call = [
        f"CallsTest.test_{name}" for name in ("call", "list", "attribute", "method", "generator")
    ]
    sandbox = ZygoteSandbox(slots=1)
    await sandbox.start()
    try:
        await run_calls(sandbox, calls_spec(per_call, calls=100))  # warm-up
        lines, _ = await run_calls(sandbox, calls_spec(per_call, calls=calls))
        many, many_ms = await run_calls(
            sandbox, calls_spec(["CallsTest.test_many_calls"], calls=calls)
        )
    finally:
        await sandbox.close()
    timings = []
    for what, *numbers in lines:
        n, median, p99, total, _, local_median, local_p99, local_total = map(int, numbers)
        timings.append(Timing(what, n, median, p99, total, local_median, local_p99, local_total))
    (_, n, total, local_total) = many[0]
    timings.append(
        Timing("many", int(n), None, None, int(total), None, None, int(local_total), many_ms)
    )
    return timings


def ipc_floor(calls: int) -> Timing:
    """The round trip the kernel alone costs: two processes bouncing an 8-byte frame
    over a socketpair with blocking ``send``/``recv``, no codec and no jail. A
    judge→student call can cost no less on the same machine at the same moment."""
    judge_end, student_end = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the echoing side
        judge_end.close()
        while frame := student_end.recv(64):
            student_end.sendall(frame)
        os._exit(0)
    student_end.close()
    samples = []
    try:
        for _ in range(calls):
            started = time.perf_counter_ns()
            judge_end.sendall(b"12345678")
            judge_end.recv(64)
            samples.append(time.perf_counter_ns() - started)
    finally:
        judge_end.close()
        os.waitpid(pid, 0)
    samples.sort()
    median, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    return Timing("floor", calls, median, p99, sum(samples), None, None, 0)


CALL_ROWS = {
    "floor": "floor: a raw 8-byte round trip between two processes (socketpair, no codec)",
    "call": "call `f(i)` returning `i`",
    "list": "call passing and returning a new 1,000-element list",
    "attribute": "attribute read `box.value`",
    "after_lists": f"call `f(i)` after {LIST_CALLS} lists crossed in the same test",
    "method": "method call `box.double(i)` (one round trip once known to be a method)",
    "generator": "1,000-item generator, per item",
    "many": "a test making 100,000 calls `f(i)`",
}


def calls_row(timing: Timing) -> tuple[str, ...]:
    def us(ns: float | None) -> str:
        return "" if ns is None else f"{ns / 1000:.1f}"

    if timing.run_ms is not None:
        total = f"{timing.total / 1e9:.2f} s in the test; run {timing.run_ms} ms"
        local = f"{timing.local_total / 1e9:.3f} s"
    else:
        total = f"{timing.total / 1e9:.2f} s for {timing.samples:,}"
        local = f"{us(timing.local_median)} / {us(timing.local_p99)}"
        if timing.local_median is None:
            local = ""
    return (CALL_ROWS[timing.what], us(timing.median), us(timing.p99), total, local)


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``)."""
    fields = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process and of its children waited for (zygotes, baselines,
    and the runs they reaped)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


async def main(runs: int, calls: int) -> None:
    # Anything else running on the machine shows in the figures: measure how much.
    started, busy, own = time.monotonic(), busy_cpu_s(), own_cpu_s()
    load_before = os.getloadavg()[0]
    rows = await throughput(runs)
    timings = [ipc_floor(calls), *await call_costs(calls)]
    others = (busy_cpu_s() - busy) - (own_cpu_s() - own)
    elapsed = time.monotonic() - started

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Sandbox benchmark, {now}; {machine()}")
    print(f"Command: {' '.join([sys.executable, *sys.argv])}")
    print(
        f"{elapsed:.0f} s; other processes used {max(0.0, others):.1f} CPU-seconds meanwhile "
        f"({max(0.0, others) / elapsed:.0%} of one CPU); load average {load_before:.1f} "
        f"at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"{runs} runs per gradeflow row, {max(20, runs // 3)} per baseline row\n")
    print_table(
        ("workload", "runner", "slots", "median ms", "p99 ms", "runs/s", "vs baseline"),
        [
            (
                name,
                runner,
                str(slots),
                f"{m.median_ms:.1f}",
                f"{m.p99_ms:.1f}",
                f"{m.per_second:.0f}",
                f"{ratio:.1f}x",
            )
            for name, runner, slots, m, ratio in rows
        ],
    )
    print("\njudge→student calls, inside a ZygoteSandbox run (1 slot)\n")
    print_table(
        ("what", "median µs", "p99 µs", "total", "in-process median / p99 µs (or total)"),
        [calls_row(timing) for timing in timings],
    )


async def cgroup_cost(runs: int, rounds: int) -> None:
    """``--cgroup-cost``: the same runs with per-process cgroup v2 limits on and off.

    Where a delegated cgroup v2 subtree exists (``make cgroup-vm``), each run of a
    ``ZygoteSandbox`` with ``cgroups="on"`` makes, limits, reads and removes a cgroup
    for its judge and one for its student process. The modes alternate, ``rounds``
    times, each with a fresh zygote and ``runs`` runs on 1 slot, so a change of load
    meets both; the figure is the ratio of the two in the same boot.
    """
    started, busy, own = time.monotonic(), busy_cpu_s(), own_cpu_s()
    load = os.getloadavg()
    # A limit no run reaches, even on an emulated CPU; it costs nothing unused.
    workloads = {
        name: dataclasses.replace(spec, time_limit_s=120)
        for name, spec in (("trivial", trivial_spec()), ("typical", typical_spec()))
    }
    found: dict[tuple[str, str], list[Measurement]] = {}
    for _ in range(rounds):
        for name, spec in workloads.items():
            for mode in ("off", "on"):
                sandbox = ZygoteSandbox(slots=1, cgroups=mode)
                await sandbox.start()
                try:
                    if sandbox.cgroup_limits != (mode == "on"):
                        raise RuntimeError(f"cgroups={mode}, but: {sandbox.cgroups_unused}")

                    async def secure_run(
                        spec: RunSpec = spec, sandbox: ZygoteSandbox = sandbox
                    ) -> None:
                        result = await sandbox.run(spec)
                        if result.outcome != "passed":
                            raise RuntimeError(f"sandbox run failed: {result.message}")

                    measured = await measure(secure_run, slots=1, runs=runs)
                finally:
                    await sandbox.close()
                found.setdefault((name, mode), []).append(measured)
    others = (busy_cpu_s() - busy) - (own_cpu_s() - own)
    elapsed = time.monotonic() - started
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Sandbox cgroup cost, {now}; {machine()}")
    print(f"Command: {' '.join([sys.executable, *sys.argv])}")
    print(
        f"{elapsed:.0f} s; load average at the start {load[0]:.2f}, at the end "
        f"{os.getloadavg()[0]:.2f}; other processes used {max(0.0, others):.1f} CPU-seconds"
    )
    print(f"{rounds} alternated rounds of {runs} runs per mode and workload, 1 slot\n")
    rows = []
    for name in workloads:
        off, on = found[(name, "off")], found[(name, "on")]
        off_ms = statistics.median(m.median_ms for m in off)
        on_ms = statistics.median(m.median_ms for m in on)
        off_rate = statistics.median(m.per_second for m in off)
        on_rate = statistics.median(m.per_second for m in on)
        rows.append(
            (
                name,
                f"{off_ms:.1f}",
                f"{on_ms:.1f}",
                f"{on_ms / off_ms:.3f}",
                f"{off_rate:.2f}",
                f"{on_rate:.2f}",
                f"{on_rate / off_rate:.3f}",
                " ".join(
                    f"{m.median_ms:.0f}/{n.median_ms:.0f}" for m, n in zip(off, on, strict=True)
                ),
            )
        )
    print_table(
        (
            "workload",
            "median ms, off",
            "median ms, on",
            "on/off",
            "runs/s, off",
            "runs/s, on",
            "on/off",
            "per round off/on ms",
        ),
        rows,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=300, help="runs per gradeflow measurement")
    parser.add_argument(
        "--calls", type=int, default=20_000, help="samples per judge→student operation"
    )
    parser.add_argument(
        "--cgroup-cost",
        action="store_true",
        help="only compare runs with cgroup v2 limits on and off (needs a delegated subtree)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternations of --cgroup-cost")
    arguments = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("The secure sandbox needs root; run this benchmark as root.")
    if arguments.cgroup_cost:
        asyncio.run(cgroup_cost(arguments.runs, arguments.rounds))
    else:
        asyncio.run(main(arguments.runs, arguments.calls))
