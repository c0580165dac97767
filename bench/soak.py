#!/usr/bin/env python3
"""Soak: the student scenario of ``bench/chaos.py`` at a steady rate, without faults,
for ``--minutes``; once a minute the resident memory and open descriptors of every
process of every host, PostgreSQL's client connections and the queues' depth.

    sudo .venv/bin/python bench/soak.py [--minutes 30] [--report FILE]

The bounds, from the second sample (warm caches, full pools) to the last: no
gradeflow or nginx process grows by more than 25 % + 32 MB of RSS or by more than 16
descriptors, a web process by its response cache's budget more (``--cache-mb``,
``GRADEFLOW_CACHE_MB``: the cache counts what its entries keep alive, so the budget
bounds it, but it starts empty); client connections stay within the pools' ceiling (4 processes x (4 +
4) + 4 for the checks); the queues end no deeper than the number of students. The
invariant checker of ``chaos_load.py`` runs at the end too. Exit 0 iff all held.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from multihost import interruptible
from multihost_hosts import Failed, Started, run_namespaces

from chaos import (
    ChaosRun,
    finish_load,
    in_client,
    load_args,
    log,
    start_hosts,
    start_load,
)

RSS_GROWTH_RATIO, RSS_GROWTH_MB, FD_GROWTH = 0.25, 32, 16
DB_CONNECTIONS_CEILING = 4 * (4 + 4) + 4
DEFAULT_CACHE_MB = 64  # gradeflow's default GRADEFLOW_CACHE_MB


class SoakRun(ChaosRun):
    cache_mb = DEFAULT_CACHE_MB

    def gradeflow_env(self, host: str) -> dict[str, str]:
        env = super().gradeflow_env(host)
        env["GRADEFLOW_CACHE_MB"] = str(self.cache_mb)
        return env


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a worker's sandbox zygote, PostgreSQL's backends)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def usage(pid: int) -> dict[str, int]:
    """RSS (MB) and open descriptors summed over ``pid``'s tree."""
    rss_kb = fds = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
            rss_kb += sum(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
            )
            fds += len(os.listdir(f"/proc/{member}/fd"))
        except OSError:
            continue  # gone meanwhile
    return {"rss_mb": rss_kb // 1024, "fds": fds}


def take_sample(
    current: ChaosRun, by_name: dict[str, Started], args: dict[str, Any]
) -> dict[str, Any]:
    sample: dict[str, Any] = {"minute": round((time.monotonic() - current.started_at) / 60, 1)}
    sample["processes"] = {name: usage(started.popen.pid) for name, started in by_name.items()}
    sample.update(in_client(current, "sample", args, timeout=60))
    return sample


def judge(samples: list[dict[str, Any]], students: int, cache_mb: int) -> list[str]:
    """What grew beyond the bounds of the module's docstring."""
    problems = []
    first, last = samples[1], samples[-1]
    for name, start in first["processes"].items():
        if name in ("postgres", "rabbitmq", "redis"):
            continue  # the throwaway services: reported, not bounded
        end = last["processes"][name]
        allowed_mb = RSS_GROWTH_MB + (cache_mb if name.startswith("web") else 0)
        if end["rss_mb"] > start["rss_mb"] * (1 + RSS_GROWTH_RATIO) + allowed_mb:
            problems.append(f"{name}: RSS {start['rss_mb']} -> {end['rss_mb']} MB")
        if end["fds"] > start["fds"] + FD_GROWTH:
            problems.append(f"{name}: descriptors {start['fds']} -> {end['fds']}")
    peak = max(sample["db_connections"] for sample in samples)
    if peak > DB_CONNECTIONS_CEILING:
        problems.append(f"{peak} PostgreSQL connections (ceiling {DB_CONNECTIONS_CEILING})")
    depth = sum(v or 0 for v in last["queue_depth"].values())
    if depth > students:
        problems.append(f"{depth} jobs queued at the end")
    return problems


def soak(current: ChaosRun, options: argparse.Namespace) -> dict[str, Any]:
    by_name = start_hosts(current)
    args = load_args(current, options, max_load_s=options.minutes * 60 + 600)
    load = start_load(current, args)
    samples: list[dict[str, Any]] = []
    try:
        ends = time.monotonic() + options.minutes * 60
        for _ in range(int(options.minutes) + 1):
            samples.append(take_sample(current, by_name, args))
            last = samples[-1]
            log(
                f"minute {last['minute']}: "
                + ", ".join(
                    f"{n} {u['rss_mb']} MB/{u['fds']} fd" for n, u in last["processes"].items()
                )
                + f"; {last['db_connections']} db connections; queues {last['queue_depth']}"
            )
            if time.monotonic() >= ends:
                break
            time.sleep(max(0.0, min(60.0, ends - time.monotonic())))
    except BaseException:
        load.kill()
        load.wait(timeout=30)
        raise
    finish_load(load, args)
    checked = in_client(current, "check", args, timeout=300)
    if "error" in checked:
        raise Failed(f"the checker failed: {checked['error']}")
    dead = [name for name, started in by_name.items() if started.popen.poll() is not None]
    problems = judge(samples, options.students, options.cache_mb) + [
        f"{name} exited" for name in dead
    ]
    return {**checked, "samples": samples, "growth": problems}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--drain", type=float, default=180, help="seconds for the load to drain")
    parser.add_argument("--report", help="write the report (with every sample) as JSON here")
    parser.add_argument("--python", default=sys.executable, help="interpreter with gradeflow")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--cache-mb",
        type=int,
        default=DEFAULT_CACHE_MB,
        help="web processes' response cache budget (GRADEFLOW_CACHE_MB); small fills it sooner",
    )
    options = parser.parse_args()
    if os.geteuid() != 0:
        log("needs root (network namespaces)")
        return 2
    if options.minutes < 2:
        parser.error("--minutes: at least 2 (growth is measured from the second sample)")
    options.seed = options.seed if options.seed is not None else random.randrange(1 << 16)
    run_id = "s" + uuid.uuid4().hex[:5]
    directory = Path(tempfile.mkdtemp(prefix=f"gradeflow-multihost-{run_id}-"))
    directory.chmod(0o755)
    (directory / "logs").mkdir()
    started_at = time.monotonic()
    timeout = options.minutes * 60 + 900
    current = SoakRun(
        run_id=run_id,
        directory=directory,
        python=options.python,
        deadline=started_at + timeout,
        started_at=started_at,
        secrets={k: secrets.token_hex(16) for k in ("pg", "amqp", "redis", "key", "admin")},
    )
    current.cache_mb = options.cache_mb
    report: dict[str, Any] = {
        "run_id": run_id,
        "minutes": options.minutes,
        "cache_mb": options.cache_mb,
    }
    log(f"soak {run_id} for {options.minutes:g} minutes in {directory}")
    try:
        with interruptible(timeout):
            report.update(soak(current, options))
    except (Failed, subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        report["error"] = str(exc) or type(exc).__name__
        log(f"FAILED: {report['error']}")
    finally:
        current.stop_all()
        shutil.rmtree(directory, ignore_errors=True)
        report["namespaces_left"] = run_namespaces(run_id)
        if options.report:
            Path(options.report).write_text(json.dumps(report, indent=2))
    for problem in report.get("growth", []) + report.get("violations", []):
        log(f"PROBLEM {problem}")
    log(
        f"requests={report.get('requests')} submissions_checked={report.get('submissions_checked')}"
        f" uploads_checked={report.get('uploads_checked')} growth={len(report.get('growth', []))}"
        f" violations={len(report.get('violations', []))}"
    )
    ok = "error" not in report and not report.get("growth") and not report.get("violations")
    return 0 if ok and not report["namespaces_left"] else 1


if __name__ == "__main__":
    sys.exit(main())
