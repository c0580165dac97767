"""Benchmark: the grading CLI next to the plain way of running the same tests.

Usage: ``PYTHONPATH=src .venv/bin/python bench/cli_grading.py [--repeat N] [--exercises N]``.
Needs nothing but the sandbox (root, or unprivileged user namespaces).

1. ``gradeflow grade DIR --code solution.py`` of the demo course's first assignment,
   ``--repeat`` times, next to ``python -m unittest`` of the same files in a plain
   directory (no sandbox, no isolation: the baseline the issue names).
2. ``gradeflow assignments check COURSE`` of a course of ``--exercises`` assignments
   (the demo course's, copied over and over), next to the naive way on the same
   cores: one ``python -m unittest`` per assignment, as many at once as there are
   CPUs.
3. Prints a table: median and best wall time, the ratio to the baseline, and the
   peak RSS of the CLI process.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "demo" / "python-basics"


def timed(command: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr.decode()}")
    return elapsed


def plain_copy(assignment: Path, into: Path) -> Path:
    """The assignment's tests and solution (as its module) in a plain directory."""
    into.mkdir(parents=True)
    module = tomllib.loads((assignment / "assignment.toml").read_text())["module"]
    shutil.copy(assignment / "tests.py", into / "tests.py")
    shutil.copy(assignment / "solution.py", into / f"{module}.py")
    if (assignment / "support").is_dir():
        shutil.copytree(assignment / "support", into, dirs_exist_ok=True)
    return into


def build_course(exercises: int, into: Path) -> list[Path]:
    """A course of ``exercises`` assignments: the demo's, copied in turn."""
    into.mkdir(parents=True)
    shutil.copy(DEMO / "course.toml", into / "course.toml")
    sources = sorted(p for p in DEMO.iterdir() if (p / "assignment.toml").exists())
    made = []
    for index in range(exercises):
        source = sources[index % len(sources)]
        target = into / f"{index + 1:03d}-{source.name.split('-', 1)[1]}"
        shutil.copytree(source, target)
        toml = (target / "assignment.toml").read_text()
        lines = [
            f"order = {index + 1}" if ln.startswith("order") else ln for ln in toml.splitlines()
        ]
        (target / "assignment.toml").write_text("\n".join(lines) + "\n")
        made.append(target)
    return made


def summary(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs of each single grade")
    parser.add_argument("--exercises", type=int, default=140, help="assignments in the course")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gradeflow-cli-bench-"))
    env = os.environ | {"GRADEFLOW_DATA_DIR": str(work / "var")}
    python = sys.executable
    gradeflow = [python, "-m", "gradeflow"]
    first = DEMO / "01-hello"
    cpus = os.cpu_count() or 1
    try:
        plain = plain_copy(first, work / "plain")
        unittest = [python, "-m", "unittest", "-q", "tests"]
        grade = [*gradeflow, "grade", str(first), "--code", str(first / "solution.py")]
        timed(grade, cwd=work, env=env)  # warm the disk cache for both
        timed(unittest, cwd=plain, env=env)
        single_plain, single_cli = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine
            single_plain.append(timed(unittest, cwd=plain, env=env))
            single_cli.append(timed(grade, cwd=work, env=env))
        grade_rss = peak_rss_of(grade, cwd=work, env=env)

        course = work / "course"
        assignments = build_course(args.exercises, course)
        plains = [plain_copy(a, work / "naive" / a.name) for a in assignments]

        def naive() -> float:
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(max_workers=cpus) as pool:
                for elapsed in pool.map(lambda d: timed(unittest, cwd=d, env=env), plains):
                    assert elapsed >= 0
            return time.perf_counter() - started

        check = [*gradeflow, "assignments", "check", str(course)]
        course_naive, course_cli = [], []
        for _ in range(3):
            course_naive.append(naive())
            course_cli.append(timed(check, cwd=work, env=env))
        check_rss = peak_rss_of(check, cwd=work, env=env)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"machine: {cpus} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print()
    print("| what | median s | best s | vs baseline | peak RSS (largest process) |")
    print("|---|---|---|---|---|")
    rows = [
        ("`python -m unittest` of one assignment (baseline)", single_plain, single_plain, ""),
        ("`gradeflow grade DIR --code F`, same files, sandboxed", single_cli, single_plain,
         f"{grade_rss} MB"),
        (f"naive: {args.exercises} × `python -m unittest`, {cpus} at once (baseline)",
         course_naive, course_naive, ""),
        (f"`gradeflow assignments check` of those {args.exercises}, sandboxed", course_cli,
         course_naive, f"{check_rss} MB"),
    ]  # fmt: skip
    for label, samples, baseline, rss in rows:
        median, best = summary(samples)
        ratio = median / statistics.median(baseline)
        print(f"| {label} | {median:.3f} | {best:.3f} | {ratio:.2f}x | {rss} |")


def peak_rss_of(command: list[str], *, cwd: Path, env: dict[str, str]) -> int:
    """The peak RSS in MB of the largest process ``command`` runs (itself, its zygote
    or a jailed run), as the kernel reports it for waited-for descendants."""
    done = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, *command], cwd=cwd, env=env, capture_output=True
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode())
    return round(int(done.stdout) / 1024)


# Runs the command as a child and reports the child's ru_maxrss (KiB on Linux).
_RSS_PROBE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], capture_output=True, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""

if __name__ == "__main__":
    main()
