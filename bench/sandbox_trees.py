"""Benchmark: the same sandbox runs in several source trees, alternated, in one session.

Usage: ``.venv/bin/python bench/sandbox_trees.py [--runs N] [--rounds N] TREE...``, as
root, where each TREE is a checkout or export of gradeflow (its ``src`` is used), e.g.
this tree, ``git worktree add /tmp/before main`` and the tree of commit 40d5aa4 (before
the judge/student split: ``git archive 40d5aa4 src | tar -x -C /tmp/presplit``).

Each round runs every tree once, in the order given, each in a fresh interpreter with
``PYTHONPATH`` at that tree's ``src``: a ``ZygoteSandbox(slots=1)`` makes 3 warm-up
runs, then ``--runs`` sequential runs of a trivial assignment (one test of a one-line
function) and of the demo course's ``11-roman-numerals`` (its reference solution). The
table shows each tree's median run time, the median of the rounds, with every round's
median and the load average beside it: on a shared machine only figures taken
alternately, minutes apart at most, compare.

``--interleave``: each tree instead gets one measuring process for the whole session,
with its zygote started once, and the trees take turns run by run (A, B, C, A, B,
C, ...), each workload in turn; the table then shows the median and p90 of each
tree's runs and each tree's median against the first tree's. On a machine whose
load changes from second to second, run-by-run turns compare trees under the same
load, which rounds minutes apart do not.

Only ``RunSpec`` and ``ZygoteSandbox`` of each tree are used (the API they have had
since before the split), and the test ids are found here, so older trees run too.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TYPICAL = ROOT / "demo" / "python-basics" / "11-roman-numerals"
TRIVIAL_TESTS = """\
import unittest
from solution import answer


class AnswerTest(unittest.TestCase):
    def test_answer(self):
        self.assertEqual(answer(), 42)
"""
WORKLOADS = ("trivial", "typical")


def test_ids(source: str) -> list[str]:
    """``Class.test_method`` of every test method of ``source``, as unittest names them."""
    return [
        f"{node.name}.{item.name}"
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef)
        for item in node.body
        if isinstance(item, ast.FunctionDef) and item.name.startswith("test")
    ]


def workload_specs() -> dict[str, Any]:
    """The ``RunSpec`` of each workload, in the gradeflow on ``sys.path``."""
    from gradeflow.grading.sandbox import RunSpec

    typical_tests = (TYPICAL / "tests.py").read_text()
    return {
        "trivial": RunSpec(
            files={
                "tests.py": TRIVIAL_TESTS.encode(),
                "solution.py": b"def answer():\n    return 42\n",
            },
            module="solution",
            test_ids=test_ids(TRIVIAL_TESTS),
            time_limit_s=5,
            memory_mb=256,
        ),
        "typical": RunSpec(
            files={
                "tests.py": typical_tests.encode(),
                "roman_numerals.py": (TYPICAL / "solution.py").read_bytes(),
            },
            module="roman_numerals",
            test_ids=test_ids(typical_tests),
            time_limit_s=5,
            memory_mb=256,
        ),
    }


async def measure_this_tree(runs: int) -> dict[str, float]:
    """Median ms per run of each workload, with the gradeflow on ``sys.path``."""
    from gradeflow.grading.sandbox import ZygoteSandbox

    medians: dict[str, float] = {}
    for name, spec in workload_specs().items():
        sandbox = ZygoteSandbox(slots=1)
        await sandbox.start()
        try:
            for _ in range(3):  # warm-up: caches, the zygote's first spares
                await sandbox.run(spec)
            latencies = []
            for _ in range(runs):
                started = time.perf_counter()
                result = await sandbox.run(spec)
                latencies.append((time.perf_counter() - started) * 1000)
                if result.outcome != "passed":
                    raise RuntimeError(f"{name} run {result.outcome}: {result.message}")
        finally:
            await sandbox.close()
        medians[name] = statistics.median(latencies)
    return medians


async def serve_runs() -> None:
    """The measuring process of ``--interleave``: one sandbox per workload, started once;
    for each workload name read from stdin, one run, and its ms on stdout; at the end
    the CPU time each workload's runs took, in this process and its zygote with the
    run's processes it reaped."""
    from gradeflow.grading.sandbox import ZygoteSandbox

    specs = workload_specs()
    sandboxes = {name: ZygoteSandbox(slots=1) for name in specs}
    try:
        for name, sandbox in sandboxes.items():
            await sandbox.start()
            for _ in range(3):  # warm-up: caches, the zygote's first spares
                await sandbox.run(specs[name])
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        cpu = dict.fromkeys(specs, 0.0)
        while name := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            cpu_before = _cpu_s(sandboxes[name])
            started = time.perf_counter()
            result = await sandboxes[name].run(specs[name])
            elapsed = (time.perf_counter() - started) * 1000
            cpu[name] += _cpu_s(sandboxes[name]) - cpu_before
            if result.outcome != "passed":
                raise RuntimeError(f"{name} run {result.outcome}: {result.message}")
            print(f"ms {elapsed:.3f}", flush=True)
        print("cpu " + " ".join(f"{name} {seconds:.3f}" for name, seconds in cpu.items()))
    finally:
        for sandbox in sandboxes.values():
            await sandbox.close()


def _cpu_s(sandbox: Any) -> float:
    """CPU seconds of this process and of ``sandbox``'s zygote with the children it reaped
    (the runs' processes and spares), as the kernel counts them (clock ticks: only a sum
    over many runs means anything)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    pid = sandbox.zygote_pid
    if pid is not None:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        total += sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def interleave(trees: list[Path], runs: int) -> None:
    """Every tree's measuring process at once; runs in turns, tree by tree."""
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            env={**os.environ, "PYTHONPATH": str(tree / "src")},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for tree in trees
    ]
    latencies: dict[tuple[Path, str], list[float]] = {
        (tree, workload): [] for tree in trees for workload in WORKLOADS
    }
    loads = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        for worker in workers:
            _reply(worker, "ready")
        for index in range(runs):
            if index % 10 == 0:
                loads.append(os.getloadavg()[0])
            for workload in WORKLOADS:
                for tree, worker in zip(trees, workers, strict=True):
                    assert worker.stdin is not None
                    assert worker.stdout is not None
                    worker.stdin.write(workload + "\n")
                    worker.stdin.flush()
                    latencies[tree, workload].append(float(_reply(worker, "ms ")))
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.close()
        cpu = {}
        for tree, worker in zip(trees, workers, strict=True):
            fields = _reply(worker, "cpu ").split()
            for index in range(0, len(fields), 2):
                cpu[tree, fields[index]] = float(fields[index + 1]) * 1000 / runs
    finally:
        for worker in workers:
            if worker.stdin is not None and not worker.stdin.closed:
                worker.stdin.close()
            worker.wait()
    print(
        f"Sandbox runs in {len(trees)} trees, interleaved run by run, {started}; "
        f"{runs} runs of each workload per tree, 1 slot; load average "
        f"{min(loads):.1f}-{max(loads):.1f}"
    )
    print(f"Command: {' '.join([sys.executable, *sys.argv])}\n")
    print("| tree | workload | median ms | p90 ms | median vs first tree | CPU ms per run |")
    print("|---|---|---|---|---|---|")
    for workload in WORKLOADS:
        first = statistics.median(latencies[trees[0], workload])
        for tree in trees:
            values = sorted(latencies[tree, workload])
            median = statistics.median(values)
            p90 = values[int(0.9 * (len(values) - 1))]
            print(
                f"| {tree} | {workload} | {median:.1f} | {p90:.1f} | {median - first:+.1f} "
                f"| {cpu[tree, workload]:.1f} |"
            )


def _reply(worker: subprocess.Popen[str], prefix: str) -> str:
    """The rest of the next line of ``worker`` that starts with ``prefix`` (the
    sandbox's log lines go to stdout too)."""
    assert worker.stdout is not None
    while line := worker.stdout.readline():
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()
    raise RuntimeError("a measuring process exited")


def run_tree(tree: Path, runs: int) -> dict[str, float]:
    """One measurement of ``tree`` in a fresh interpreter."""
    output = subprocess.run(
        [sys.executable, __file__, "--measure", "--runs", str(runs)],
        env={**os.environ, "PYTHONPATH": str(tree / "src")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = output.split()[-2 * len(WORKLOADS) :]
    return {fields[i]: float(fields[i + 1]) for i in range(0, len(fields), 2)}


def main(trees: list[Path], runs: int, rounds: int) -> None:
    measured: dict[Path, list[tuple[dict[str, float], float]]] = {tree: [] for tree in trees}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for _ in range(rounds):
        for tree in trees:
            load = os.getloadavg()[0]
            measured[tree].append((run_tree(tree, runs), load))
    print(f"Sandbox runs in {len(trees)} trees, alternated, {started}; {runs} runs each, 1 slot")
    print(f"Command: {' '.join([sys.executable, *sys.argv])}\n")
    print("| tree | workload | median ms (of the rounds) | each round: median ms (load) |")
    print("|---|---|---|---|")
    for tree, results in measured.items():
        for workload in WORKLOADS:
            values = [medians[workload] for medians, _ in results]
            each = " ".join(f"{medians[workload]:.1f} ({load:.1f})" for medians, load in results)
            print(f"| {tree} | {workload} | {statistics.median(values):.1f} | {each} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("trees", nargs="*", type=Path, help="source trees to compare")
    parser.add_argument("--runs", type=int, default=40, help="runs per workload and tree")
    parser.add_argument("--rounds", type=int, default=3, help="times each tree is measured")
    parser.add_argument(
        "--interleave", action="store_true", help="take turns run by run (see above)"
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("The secure sandbox needs root; run this benchmark as root.")
    if arguments.measure:
        medians = asyncio.run(measure_this_tree(arguments.runs))
        print(" ".join(f"{name} {value:.3f}" for name, value in medians.items()))
    elif arguments.serve:
        asyncio.run(serve_runs())
    elif not arguments.trees:
        parser.error("name at least one tree")
    elif arguments.interleave:
        interleave(arguments.trees, arguments.runs)
    else:
        main(arguments.trees, arguments.runs, arguments.rounds)
