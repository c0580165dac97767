"""Benchmark: the whole fast-path table of issue 11 in one command.

Usage: ``PYTHONPATH=src .venv/bin/python bench/paths.py [--only PART ...]
[--quick]`` (as root; needs ``make services``, nginx, ``wrk`` and the ``bench`` extra;
``make bench-paths`` runs it). About 20 minutes; ``--quick`` shortens every part.

Runs each existing bench in turn, each with its baselines measured in the same run,
and prints their tables one after another as one report:

- ``reads``: ``grade_lookups.py`` — the practice page, cached and personal reads,
  through ``make stack``; baselines nginx's static file and ``/healthz``.
- ``submits``: ``submissions.py`` — submits accepted and graded end to end, stack and
  embedded; baseline the raw sandbox.
- ``pipeline``: ``grading_pipeline.py`` — graded end to end in one grading process,
  embedded and services; baseline the raw sandbox, measured right before each.
- ``live``: ``live_results.py`` — submit → result on the event stream, embedded and
  services, idle and at saturation; baseline a raw sandbox run.
- ``students``: ``student_scenario.py`` — Locust, the full student scenario against
  the stack.
- ``cli``: ``cli_grading.py`` — ``gradeflow grade`` and ``assignments check``;
  baseline plain ``python -m unittest``.

Around each part, every process the part started is sampled twice a second from
``/proc`` (found as descendants of the part's process): CPU seconds and peak resident
memory by kind of process (nginx, web, worker, embedded server, sandbox, wrk, Locust,
the bench's own client). PostgreSQL, Redis and RabbitMQ are shared by everyone on this
machine, so their figures include other users' work. The load average is printed
before and after each part: figures are only comparable within a part.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY_S = 0.5
PART_TIMEOUT_S = 1800

# (name, script, arguments, arguments with --quick)
PARTS: list[tuple[str, str, list[str], list[str]]] = [
    ("reads", "grade_lookups.py", ["--duration", "10"], ["--duration", "4"]),
    ("submits", "submissions.py", ["--duration", "10", "--students", "8000"],
     ["--duration", "4", "--students", "2000"]),
    ("pipeline", "grading_pipeline.py", ["--submissions", "400", "--rounds", "2"],
     ["--submissions", "200"]),
    ("live", "live_results.py", ["--mode", "both", "--busy", "16", "--submissions", "100"],
     ["--mode", "both", "--busy", "8", "--submissions", "30"]),
    ("students", "student_scenario.py", ["--students", "200", "--duration", "60"],
     ["--students", "50", "--duration", "20"]),
    ("cli", "cli_grading.py", [], []),
]  # fmt: skip

# Kinds of process, by what their command line holds (first match).
KINDS = [
    ("zygote", "sandbox (zygote and its runs)"),
    ("gradeflow web", "web"),
    ("gradeflow worker", "worker"),
    ("gradeflow serve", "embedded server"),
    ("nginx", "nginx"),
    ("wrk", "wrk"),
    ("locust", "Locust"),
    ("honcho", "stack manager"),
    ("bench/", "bench client"),
    ("-m gradeflow", "gradeflow commands"),
]
SHARED = [("postgres", "PostgreSQL (shared)"), ("redis-server", "Redis (shared)"),
          ("beam.smp", "RabbitMQ (shared)")]  # fmt: skip


@dataclass
class Usage:
    """CPU seconds and the largest resident set of each kind of process in one part."""

    first_cpu: dict[int, float] = field(default_factory=dict)
    last_cpu: dict[int, float] = field(default_factory=dict)
    kind_of: dict[int, str] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    def rows(self, elapsed: float) -> list[str]:
        cpu: dict[str, float] = {}
        count: dict[str, int] = {}
        for pid, kind in self.kind_of.items():
            cpu[kind] = cpu.get(kind, 0.0) + self.last_cpu[pid] - self.first_cpu[pid]
            count[kind] = count.get(kind, 0) + 1
        lines = [
            "| process | processes | CPU s | CPU % of one core | peak RSS MB (largest) |",
            "|---|---|---|---|---|",
        ]
        for kind in sorted(cpu, key=lambda k: -cpu[k]):
            lines.append(f"| {kind} | {count[kind]} | {cpu[kind]:.1f} "
                         f"| {cpu[kind] / elapsed * 100:.0f}% | {self.peak_rss_mb[kind]:.0f} |")  # fmt: skip
        return lines


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent, own CPU s, CPU s of reaped children) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    reaped = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return int(fields[1]), own, reaped


def _command(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _kind(command: str, *, descendant: bool) -> str | None:
    for needle, kind in KINDS if descendant else SHARED:
        if needle in command:
            return kind
    return "other" if descendant else None


def sample(root: int, usage: Usage) -> None:
    """One look at ``root``'s descendants and the shared services."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            stats[int(entry)] = stat
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    descendants, todo = set(), [root]
    while todo:
        pid = todo.pop()
        descendants.add(pid)
        todo.extend(children.get(pid, []))
    for pid, (parent, own, reaped) in stats.items():
        if pid in usage.kind_of:
            kind: str | None = usage.kind_of[pid]
        else:
            kind = _kind(_command(pid), descendant=pid in descendants)
        if kind is None or (kind.startswith("sandbox") and usage.kind_of.get(parent) == kind):
            continue  # a run: counted in its zygote's reaped children
        # A zygote's runs are reaped by it: their CPU is its children's.
        cpu = own + reaped if kind.startswith("sandbox") else own
        usage.kind_of[pid] = kind
        usage.first_cpu.setdefault(pid, cpu)
        usage.last_cpu[pid] = cpu
        usage.peak_rss_mb[kind] = max(usage.peak_rss_mb.get(kind, 0.0), _rss_mb(pid))


def run_part(script: str, arguments: list[str]) -> tuple[list[str], Usage, float, int]:
    """The part's output lines, its processes' usage, seconds, and exit status."""
    env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
    output = (ROOT / ".bench-paths.log").open("a")
    command = [sys.executable, str(BENCH / script), *arguments]
    output.write(f"\n=== {' '.join(command)}\n")
    output.flush()
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=output, text=True)  # fmt: skip
    usage = Usage()
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.write(line)
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while process.poll() is None and time.monotonic() - started < PART_TIMEOUT_S:
        sample(process.pid, usage)
        time.sleep(SAMPLE_EVERY_S)
    if process.poll() is None:
        process.kill()
    status = process.wait()
    reader.join(timeout=10)
    output.close()
    return lines, usage, time.monotonic() - started, status


def report_lines(lines: list[str]) -> list[str]:
    """What a part printed for the report: its tables and the lines around them."""
    keep = ("|", "machine:", "date:", "checked", "the pipeline adds", "submit →", "Peak RSS")
    return [line for line in lines if line.startswith(keep)]


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=[p[0] for p in PARTS])
    parser.add_argument("--quick", action="store_true", help="shorter parts (a smoke run)")
    args = parser.parse_args()
    parts = [p for p in PARTS if not args.only or p[0] in args.only]
    print(f"# Fast paths (issue 11), {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, "
          f"Python {platform.python_version()}; full output in .bench-paths.log", flush=True)  # fmt: skip
    failed = []
    for name, script, full, quick in parts:
        arguments = quick if args.quick else full
        before = load()
        lines, usage, elapsed, status = run_part(script, arguments)
        print()
        print(f"## {name}: bench/{script} {' '.join(arguments)}")
        print(f"{elapsed:.0f} s; load average before {before}, after {load()}"
              + ("" if status == 0 else f"; FAILED (exit {status}, see .bench-paths.log)"))  # fmt: skip
        print()
        print("\n".join(report_lines(lines)))
        print()
        print("\n".join(usage.rows(elapsed)))
        sys.stdout.flush()
        if status != 0:
            failed.append(name)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
