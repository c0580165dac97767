"""The stack's nginx (``gradeflow.stack.nginx_config``) when web processes die: a
request that no process answered goes to the other one unless it may already have
been acted on, and what fails answers the documented 503, never a 502 or 504.

Real nginx with the generated configuration, in front of a real web process, a port
where none listens (a process that is down) and upstreams that read a request and
then reset the connection (a process killed while the request was in flight).
"""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gradeflow.app import create_app
from gradeflow.errors import RETRY_AFTER_UNAVAILABLE_S
from gradeflow.settings import Settings
from gradeflow.stack import StackPlan, nginx_binary, write_stack_files
from gradeflow.web.pages import write_static_pages
from tests.conftest import LiveServer, free_port

HTML = {"accept": "text/html"}


class KilledMidRequest:
    """An upstream that reads each request's head, then resets the connection, as a web
    process killed while handling it would; it keeps the request lines it saw."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.seen: list[str] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                head = b""
                for _chunk in range(64):  # a request head is far below 64 reads
                    data = connection.recv(4096)
                    head += data
                    if not data or b"\r\n\r\n" in head:
                        break
                if head:
                    self.seen.append(head.split(b"\r\n", 1)[0].decode())
                # SO_LINGER 0: close() sends a reset, as the kernel does for a killed process.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.listener.close()


@contextmanager
def nginx_in_front_of(directory: Path, upstreams: tuple[str, ...]) -> Iterator[str]:
    port = free_port()
    plan = StackPlan(
        directory=directory,
        web=len(upstreams),
        workers=0,
        concurrency=1,
        port=port,
        first_web_port=0,
        upstreams=upstreams,
    )
    write_stack_files(plan)
    write_static_pages(plan.pages_directory)
    log = directory / "nginx-stderr.log"
    with log.open("wb") as stderr:
        nginx = subprocess.Popen(
            [nginx_binary(), "-c", str(directory / "nginx.conf")], stderr=stderr
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert nginx.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        nginx.terminate()
        nginx.wait(timeout=15)


def assert_documented_503(response: httpx.Response, *, page: bool) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_UNAVAILABLE_S)
    if page:
        assert response.headers["content-type"].startswith("text/html")
        assert "Back in a moment" in response.text
    else:
        assert response.headers["content-type"] == "application/json"
        error = response.json()["error"]
        assert error["code"] == "unavailable"
        assert sorted(error) == ["code", "details", "message"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_requests_pass_over_a_web_process_that_is_down(settings: Settings, tmp_path: Path) -> None:
    down = f"127.0.0.1:{free_port()}"  # nothing listens: a process that is not running
    with (
        LiveServer(create_app(settings, grading=False)) as web,
        nginx_in_front_of(tmp_path / "nginx", (down, f"127.0.0.1:{web.port}")) as url,
    ):
        for _request in range(4):
            assert httpx.get(f"{url}/api/practice", timeout=30).status_code == 200
            # A POST that never reached a process is safe to pass on.
            assert httpx.post(f"{url}/api/session", timeout=30).status_code == 200


def test_a_post_that_reached_a_dying_process_is_not_sent_again(tmp_path: Path) -> None:
    first, second = KilledMidRequest(), KilledMidRequest()
    try:
        with nginx_in_front_of(tmp_path / "nginx", (first.address, second.address)) as url:
            response = httpx.post(f"{url}/api/session", timeout=60)
        assert_documented_503(response, page=False)
        # Once, to one of them: a second copy could double a submission.
        assert first.seen + second.seen == ["POST /api/session HTTP/1.1"]
    finally:
        first.close()
        second.close()


def test_when_no_process_answers_api_and_pages_get_the_documented_503(tmp_path: Path) -> None:
    first, second = KilledMidRequest(), KilledMidRequest()
    try:
        with nginx_in_front_of(tmp_path / "nginx", (first.address, second.address)) as url:
            read = httpx.get(f"{url}/api/practice", timeout=60)
            assert_documented_503(read, page=False)
            # A read is tried on the other process before giving up.
            assert sorted(first.seen + second.seen) == ["GET /api/practice HTTP/1.1"] * 2
            page = httpx.get(f"{url}/courses", headers=HTML, timeout=60)
            assert_documented_503(page, page=True)
            events = httpx.get(f"{url}/api/events", timeout=60)
            assert_documented_503(events, page=False)
            # The 503 answers are nginx's own, not pages anyone can ask for.
            assert httpx.get(f"{url}/unavailable.json", timeout=30).status_code == 404
    finally:
        first.close()
        second.close()
