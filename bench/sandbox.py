"""Benchmark: grading runs per second, the secure sandbox against a plain interpreter.

Usage: ``.venv/bin/python bench/sandbox.py [--runs N]`` (``make bench``), as root.

Two workloads: a trivial assignment (one test of a one-line function) and a
typical one (the demo course's ``11-roman-numerals``: its reference solution
against its unittest file). Two ways to run each:

- baseline: a fresh ``python -I -S`` per run that sets the rlimits and runs the
  tests with ``unittest`` — the cost of an interpreter start, without isolation;
- gradeflow: ``ZygoteSandbox`` — namespaces, per-slot uid, rlimits, seccomp, and
  the harness and verdict the workers use.

Each is measured with 1 and 2 slots (runs in flight at once). Prints one table:
median and p99 latency of a run, runs per second, and throughput relative to the
baseline with the same slots.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from gradeflow.courses.format import load_assignment
from gradeflow.grading.sandbox import RunSpec, ZygoteSandbox, discover_test_ids

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


async def main(runs: int) -> None:
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

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Sandbox benchmark, {now}; {machine()}")
    print(f"{runs} runs per gradeflow row, {max(20, runs // 3)} per baseline row\n")
    header = ("workload", "runner", "slots", "median ms", "p99 ms", "runs/s", "vs baseline")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for name, runner, slots, m, ratio in rows:
        cells = (
            name,
            runner,
            str(slots),
            f"{m.median_ms:.1f}",
            f"{m.p99_ms:.1f}",
            f"{m.per_second:.0f}",
            f"{ratio:.1f}x",
        )
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=300, help="runs per gradeflow measurement")
    arguments = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("The secure sandbox needs root; run this benchmark as root.")
    asyncio.run(main(arguments.runs))
