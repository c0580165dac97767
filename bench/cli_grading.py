"""Benchmark: the grading CLI next to the plain way of running the same tests.

Usage: ``PYTHONPATH=src .venv/bin/python bench/cli_grading.py [--repeat N]
[--exercises N] [--old-tree DIR]``. Needs nothing but the sandbox (root, or
unprivileged user namespaces).

1. ``gradeflow grade DIR --code solution.py`` of the demo course's first assignment,
   ``--repeat`` times each way, interleaved, next to ``python -m unittest`` of the
   same files in a plain directory (no sandbox, no isolation: the baseline the issue
   names): warm (through the running warm grader), cold (the first call, which
   starts the warm grader: a fresh socket directory each time), ``--no-daemon``
   (in-process, one zygote per call), and, with ``--old-tree``, the same call from
   another checkout's ``src`` (e.g. a worktree of ``main``) with this interpreter.
2. ``gradeflow assignments check COURSE`` of a course of ``--exercises`` assignments
   (the demo course's, copied over and over), next to the naive way on the same
   cores: one ``python -m unittest`` per assignment, as many at once as there are
   CPUs.
3. Prints a table: median and best wall time, the ratio to the baseline, and the
   peak RSS of the CLI process (the warm grader's own RSS is printed below it).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import os
import platform
import re
import shutil
import signal
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
    parser.add_argument("--old-tree", type=Path, help="a checkout to compare (its src/ is used)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gradeflow-cli-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADEFLOW_")}
    env |= {"GRADEFLOW_DATA_DIR": str(work / "var"), "TMPDIR": str(work / "tmp")}
    env.pop("XDG_RUNTIME_DIR", None)
    (work / "tmp").mkdir()
    python = sys.executable
    gradeflow = [python, "-m", "gradeflow"]
    first = DEMO / "01-hello"
    cpus = os.cpu_count() or 1
    try:
        plain = plain_copy(first, work / "plain")
        unittest = [python, "-m", "unittest", "-q", "tests"]
        grade = [*gradeflow, "grade", str(first), "--code", str(first / "solution.py")]
        alone = [*grade, "--no-daemon"]
        old_env = None
        if args.old_tree is not None:
            old_env = env | {"PYTHONPATH": str(args.old_tree.resolve() / "src")}
        timed(grade, cwd=work, env=env)  # warm the disk cache, and start the warm grader
        timed(unittest, cwd=plain, env=env)
        samples: dict[str, list[float]] = {
            "plain": [], "warm": [], "cold": [], "alone": [], "old": []
        }  # fmt: skip
        for index in range(args.repeat):  # interleaved, so all see the same machine
            samples["plain"].append(timed(unittest, cwd=plain, env=env))
            samples["warm"].append(timed(grade, cwd=work, env=env))
            fresh = work / f"cold-{index}"
            (fresh / "tmp").mkdir(parents=True)
            cold_env = env | {
                "GRADEFLOW_DATA_DIR": str(fresh / "var"),
                "TMPDIR": str(fresh / "tmp"),
            }
            samples["cold"].append(timed(grade, cwd=work, env=cold_env))
            stop(server_pids(fresh))  # its own process; the next cold call starts another
            samples["alone"].append(timed(alone, cwd=work, env=env))
            if old_env is not None:
                samples["old"].append(timed(grade, cwd=work, env=old_env))
        warm_rss = peak_rss_of(grade, cwd=work, env=env)
        alone_rss = peak_rss_of(alone, cwd=work, env=env)
        server_rss = sum(tree_rss_mb(pid) for pid in server_pids(work))

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
        stop(server_pids(work / "var") + server_pids(work / "tmp"))
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"machine: {cpus} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("| what | median s | best s | vs baseline | peak RSS (largest process) |")
    print("|---|---|---|---|---|")
    plain_samples = samples["plain"]
    rows = [
        ("`python -m unittest` of one assignment (baseline)", plain_samples, plain_samples, ""),
        ("`gradeflow grade DIR --code F`, warm (the warm grader runs it)", samples["warm"],
         plain_samples, f"{warm_rss} MB (client)"),
        ("`gradeflow grade DIR --code F`, cold (starts the warm grader)", samples["cold"],
         plain_samples, ""),
        ("`gradeflow grade DIR --code F --no-daemon` (in-process)", samples["alone"],
         plain_samples, f"{alone_rss} MB"),
        ("`gradeflow grade DIR --code F`, old tree", samples["old"], plain_samples, ""),
        (f"naive: {args.exercises} × `python -m unittest`, {cpus} at once (baseline)",
         course_naive, course_naive, ""),
        (f"`gradeflow assignments check` of those {args.exercises}, sandboxed", course_cli,
         course_naive, f"{check_rss} MB"),
    ]  # fmt: skip
    for label, runs, baseline, rss in rows:
        if not runs:
            continue
        median, best = summary(runs)
        ratio = median / statistics.median(baseline)
        print(f"| {label} | {median:.3f} | {best:.3f} | {ratio:.2f}x | {rss} |")
    print()
    print(f"the warm grader's processes (server, zygote, spares) when idle: {server_rss} MB RSS")


def server_pids(root: Path) -> list[int]:
    """The warm graders started with data and temporary directories under ``root``."""
    pids = []
    for log in root.glob("**/grade-*.log"):
        pids += [int(p) for p in re.findall(r"grade_server\.ready\s+pid=(\d+)", log.read_text())]
    return pids


def stop(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def tree_rss_mb(pid: int) -> int:
    """The resident memory of ``pid`` and its descendants, in MB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
        pending += [int(child) for child in children]
    return round(total / 1024)


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
