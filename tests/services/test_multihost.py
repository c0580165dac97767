"""Services mode across hosts: ``scripts/multihost.py`` puts two web and two worker
processes, PostgreSQL/RabbitMQ/Redis and nginx in network namespaces of their own,
and proves the product works with nothing shared but those addresses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.services.conftest import ROOT

SCRIPT = ROOT / "scripts" / "multihost.py"
NEEDED = ("ip", "nginx", "redis-server", "rabbitmq-server", "setpriv")
PROVEN = {
    "the root namespace has no address or route on the private network",
    "PostgreSQL, RabbitMQ and Redis listen on the services host's address only",
    "no gradeflow host has a loopback to lean on",
    "nginx answers on the proxy host",
    "a worker host checked the new assignment",
    "submission through nginx is passed",
    "submission through nginx is failed",
    "web2 accepts the session cookie web1 signed",
    "SSE on web1 carries a submission made through web2",
    "the wake-ups for that user went through Redis",
    "a regrade of the assignment completes",
    "the regraded result stands",
    "a grade file is applied by a worker host",
    "the imported grade reaches the student on web1",
    "every web and worker host is connected to PostgreSQL over the private network",
    "every web and worker host is connected to RabbitMQ over the private network",
    "every web and worker host is connected to Redis over the private network",
    "the uploaded file went through large objects and is gone",
    "web hosts see the client's address behind nginx (GRADEFLOW_TRUSTED_PROXIES)",
    "no blob on any host's disk",
}


def namespaces() -> list[str]:
    listing = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=30, check=False
    )
    return [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]


@pytest.fixture
def netns_available() -> None:
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip(f"not installed: {', '.join(missing) or 'PostgreSQL server binaries'}")
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"`ip netns` is unavailable: {probe.stderr.strip()}")


@pytest.mark.usefixtures("netns_available")
def test_two_web_and_two_worker_hosts_work_over_namespace_addresses_only(tmp_path: Path) -> None:
    run_id = f"t{uuid.uuid4().hex[:7]}"
    report_path = tmp_path / "report.json"
    command = [sys.executable, str(SCRIPT), "run", "--run-id", run_id]
    try:
        done = subprocess.run(
            [*command, "--report", str(report_path), "--timeout", "200"],
            capture_output=True,
            text=True,
            timeout=260,
            check=False,
        )
    finally:
        # The script tears down after itself; this covers it being killed outright.
        subprocess.run(
            [sys.executable, str(SCRIPT), "clean", "--run-id", run_id],
            capture_output=True,
            timeout=90,
            check=False,
        )
    assert report_path.exists(), done.stderr[-8000:]
    report = json.loads(report_path.read_text())
    failed = [check for check in report["checks"] if not check["ok"]]
    assert (done.returncode, failed, report.get("error")) == (0, [], None), done.stderr[-8000:]
    assert PROVEN - {check["name"] for check in report["checks"]} == set()
    assert report["namespaces_left"] == []
    assert [name for name in namespaces() if name.startswith(f"gfmh-{run_id}-")] == []
