"""`gradeflow stack up/down`: nginx in front of two web processes and a worker."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import httpx

from gradeflow.settings import Settings
from tests.conftest import free_ports
from tests.services.conftest import ROOT, environment

HELLO = "def greet(name):\n    name = name.strip()\n    return f\"Hello, {name or 'world'}!\"\n"


def test_the_stack_serves_static_files_and_streams_results_through_nginx(
    settings: Settings,
) -> None:
    port, first_web, _second_web = free_ports(3)
    env = environment(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = (settings.data_dir / "stack-up.log").open("wb")
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gradeflow",
            "stack",
            "up",
            "--web",
            "2",
            "--workers",
            "1",
            "--port",
            str(port),
            "--first-web-port",
            str(first_web),
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        # Ready when nginx and each web process answer: nginx alone may answer through
        # the first web process to start while the other is still importing.
        ready_urls = [url, f"http://127.0.0.1:{first_web}", f"http://127.0.0.1:{first_web + 1}"]
        # Generous: on a loaded 2-core machine two web processes and a worker take long
        # to import; what is checked is that they come up, not how fast.
        deadline = time.monotonic() + 300
        while ready_urls:
            assert up.poll() is None, (settings.data_dir / "stack-up.log").read_text()
            try:
                if httpx.get(ready_urls[0] + "/readyz", timeout=2).status_code == 200:
                    ready_urls.pop(0)
                    continue
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"not ready: {ready_urls}"
            time.sleep(0.2)
        static = httpx.get(url + "/static/app.js")
        assert static.status_code == 200
        assert static.headers["server"].startswith("nginx")
        # The practice page's shell comes from disk (no web process answered: no request
        # id), byte for byte the one the web processes would give.
        shell = httpx.get(url + "/assignments/1")
        assert shell.status_code == 200
        assert "x-request-id" not in shell.headers
        assert shell.headers["cache-control"] == "no-cache"
        assert "etag" in shell.headers
        assert shell.content == httpx.get(f"http://127.0.0.1:{first_web}/").content
        # The code editor's bundle (built by `make install`) comes from nginx too.
        bundle = re.search(r'src="(/static/build/editor\.js\?v=\w+)"', shell.text)
        assert bundle is not None, "the shell names the editor bundle with its digest"
        editor = httpx.get(url + bundle[1])
        assert editor.status_code == 200
        assert editor.headers["server"].startswith("nginx")
        assert "javascript" in editor.headers["content-type"]
        with httpx.Client(base_url=url, timeout=30) as client:
            state = client.get("/api/practice").json()
            assignment = client.get("/api/assignments/next").json()
            assert assignment["title"] == state["assignment"]["title"] == "Hello"
            statuses = []
            with client.stream("GET", "/api/events") as stream:
                client.post(
                    f"/api/assignments/{assignment['id']}/submissions", json={"code": HELLO}
                )
                for line in stream.iter_lines():
                    assert time.monotonic() < deadline + 30
                    if line.startswith("data: "):
                        statuses.append(json.loads(line[6:])["submission"]["status"])
                        if statuses[-1] in ("passed", "failed", "error"):
                            break
            assert statuses == ["queued", "running", "passed"]
        for web_port in (first_web, first_web + 1):  # both upstreams are live
            assert httpx.get(f"http://127.0.0.1:{web_port}/healthz").status_code == 200
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "gradeflow", "stack", "down"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        up.wait(timeout=60)
        log.close()
    assert down.returncode == 0, down.stderr
    assert "stack stopped" in down.stdout
    leftovers = subprocess.run(
        ["pgrep", "-f", f"--port {first_web}"], capture_output=True, check=False
    )
    assert leftovers.stdout == b""
