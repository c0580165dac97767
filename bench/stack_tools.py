"""What the services-mode benchmarks share: a stack on loopback, wrk, PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from gradeflow.grading.messages import QUEUES

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(first: int, count: int) -> int:
    """The first port of ``count`` free consecutive ports, starting the search at ``first``."""
    for start in range(first, first + 2000, count):
        if all(port_free(p) for p in range(start, start + count)):
            return start
    raise SystemExit("no free ports for the stack")


def stack_ports() -> tuple[int, int]:
    """nginx's port and the first of two web ports, free ones from a random start: the
    fixed 8080/8001 let two engineers' benches starting together pick the same ports,
    and one stack's nginx then answered with the other's web processes."""
    # Below the kernel's ephemeral range (32768 and up), where outgoing connections
    # could take a port between this check and the bind.
    start = random.randrange(10_000, 30_000, 10)
    return free_port_block(start, 1), free_port_block(start + 1, 2)


async def admin(statement: str) -> None:
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def run_wrk(
    url: str,
    *,
    duration: int,
    connections: int,
    script: Path,
    env: dict[str, str],
    timeout_s: int = 5,
) -> dict[str, float]:
    """What ``script``'s done() printed after ``BENCH_JSON``; with ``rps`` when it
    counted ``requests``."""
    command = [
        "wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", f"{timeout_s}s",
        "-s", str(script), url,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result: dict[str, float] = json.loads(line.removeprefix("BENCH_JSON "))
            if "requests" in result:
                result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            return result
    raise SystemExit(f"wrk failed: {done.stdout}\n{done.stderr}")


async def ask_each(url: str, credentials: dict[str, str], lines: list[str], *, rounds: int) -> None:
    """Ask ``url`` as each student of ``lines``, ``rounds`` times over, 32 at a time (so
    both web processes see each student): their answers are then cached."""
    header, prefix = credentials["BENCH_HEADER"], credentials["BENCH_PREFIX"]
    limit = asyncio.Semaphore(32)
    async with httpx.AsyncClient(timeout=30) as client:

        async def ask(credential: str) -> None:
            async with limit:
                response = await client.get(url, headers={header: prefix + credential})
                response.raise_for_status()

        await asyncio.gather(*(ask(line) for _ in range(rounds) for line in lines))


async def ask_each_pipelined(
    base: str,
    path: str,
    headers: list[str],
    *,
    connections: int = 16,
    depth: int = 32,
    timeout_s: float = 600,
) -> None:
    """``GET path`` once with each of ``headers`` (one header line each, such as a
    student's session cookie), on ``connections`` keep-alive connections with up to
    ``depth`` requests pipelined on each: a warm-up that costs the server what the
    requests cost it, and this process little (httpx, 32 at a time, took most of the
    time of warming thousands of students, PERFORMANCE.md). Fails on any answer but 200."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{header}\r\n\r\n".encode() for header in headers
    ]

    async def ask_share(share: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for start in range(0, len(share), depth):
                batch = share[start : start + depth]
                writer.write(b"".join(batch))
                await writer.drain()
                for _ in batch:
                    await read_answer(reader)
        finally:
            writer.close()

    async def read_answer(reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        if status_line.split(" ", 2)[1] != "200":
            raise SystemExit(f"warm-up: {path} answered {status_line!r}")
        fields = dict(line.lower().split(": ", 1) for line in lines if ": " in line)
        if "content-length" in fields:
            await reader.readexactly(int(fields["content-length"]))
            return
        while (size := int((await reader.readuntil(b"\r\n")).strip(), 16)) > 0:  # chunked
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")

    shares = [requests[n::connections] for n in range(connections)]
    async with asyncio.timeout(timeout_s):
        await asyncio.gather(*(ask_share(share) for share in shares if share))


def peak_rss_of_web_processes(first_port: int) -> list[str]:
    """Each web process's peak resident memory (VmHWM), found by its port argument."""
    found = []
    for port in (first_port, first_port + 1):
        pids = subprocess.run(
            ["pgrep", "-f", f"gradeflow web .*--port {port}"],
            capture_output=True, text=True, check=False,
        ).stdout.split()  # fmt: skip
        peaks = []
        for pid in pids:  # the process, and any shell that started it (a few MB)
            status = Path(f"/proc/{pid}/status").read_text()
            peaks += [int(line.split()[1]) for line in status.splitlines() if "VmHWM" in line]
        if peaks:
            found.append(f"web :{port} {max(peaks) // 1024} MB")
    return found


def wait_for(
    url: str,
    *,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    output: Path | None = None,
) -> None:
    """Until ``url`` answers 200. When ``process`` (what serves it) exits or the time is
    up, stop the bench with the end of its ``output``: why it did not start (nginx not
    installed, a port taken, a failed migration) is there, and the bench's work
    directory goes away with the bench."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (process is None or process.poll() is None):
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    why = f"{url} did not answer within {timeout:.0f} s"
    if process is not None and process.poll() is not None:
        why = f"{url} did not answer: its process exited with status {process.returncode}"
    if output is not None and output.exists():
        tail = output.read_text(errors="replace").splitlines()[-20:]
        why += f"; the end of {output.name}:\n" + "\n".join(tail)
    raise SystemExit(why)


def stop_stack(manager: subprocess.Popen[bytes], env: dict[str, str]) -> None:
    """``gradeflow stack down`` (SIGTERM to honcho, which stops nginx, web and workers)."""
    if manager.poll() is None:
        subprocess.run(
            [sys.executable, "-m", "gradeflow", "stack", "down"], env=env, timeout=60, check=False
        )
        try:
            manager.wait(timeout=30)
        except subprocess.TimeoutExpired:
            log("  the stack did not stop within 30 s; ending its process group")
            os.killpg(manager.pid, signal.SIGKILL)
            manager.wait(timeout=10)


async def clean_broker_and_cache(prefix: str) -> None:
    """Remove the queues and keys this run's stack declared under its own prefix."""
    import aio_pika
    from redis.asyncio import Redis

    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    try:
        for queue in QUEUES:
            for name in (f"{prefix}.{queue}", f"{prefix}.{queue}.dead"):
                # A failed delete closes its channel: one channel per delete.
                channel = await connection.channel()
                try:
                    await channel.queue_delete(name)
                except aio_pika.exceptions.AMQPError as exc:
                    log(f"  broker clean-up of {name}: {exc}")
        channel = await connection.channel()
        await channel.exchange_delete(f"{prefix}.dead")
    finally:
        await connection.close()
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        keys = [key async for key in redis.scan_iter(f"{prefix}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@dataclass(frozen=True)
class Stack:
    """A running ``gradeflow stack up`` on a database and queue prefix of its own."""

    url: str  # nginx
    first_web_port: int
    database_url: str
    env: dict[str, str]


@contextmanager
def running_stack(
    work: Path, courses: Path, *, workers: int = 2, settings: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """``gradeflow stack up --web 2 --workers N`` with ``courses`` imported, answering
    through nginx; stopped, and its database, queues and keys removed, afterwards.
    ``settings``: more ``GRADEFLOW_*`` variables for every process of the stack."""
    name = f"gradeflow_bench_{uuid.uuid4().hex[:8]}"
    database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    env = os.environ | {
        "GRADEFLOW_DATABASE_URL": database_url,
        "GRADEFLOW_QUEUE_PREFIX": name,
        "GRADEFLOW_DATA_DIR": str(work / f"stack-{name}"),
        "GRADEFLOW_SECRET_KEY": secrets.token_urlsafe(32),
        "GRADEFLOW_LOG_JSON": "true",
        **(settings or {}),
    }
    manager: subprocess.Popen[bytes] | None = None
    asyncio.run(admin(f"CREATE DATABASE {name}"))
    try:
        for command in (["db", "upgrade"], ["assignments", "import", str(courses)]):
            subprocess.run([sys.executable, "-m", "gradeflow", *command], env=env, check=True,
                           capture_output=True)  # fmt: skip
        port, first_web = stack_ports()
        log(f"stack: nginx :{port}, web :{first_web}-{first_web + 1}, {workers} workers")
        output = work / f"{name}.log"
        manager = subprocess.Popen(
            [sys.executable, "-m", "gradeflow", "stack", "up", "--web", "2",
             "--workers", str(workers), "--port", str(port), "--first-web-port", str(first_web)],
            env=env, stdout=output.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        wait_for(f"http://127.0.0.1:{port}/readyz", timeout=120, process=manager, output=output)
        time.sleep(3)  # the workers' sandboxes finish starting
        yield Stack(f"http://127.0.0.1:{port}", first_web, database_url, env)
    finally:
        if manager is not None:
            stop_stack(manager, env)
            asyncio.run(clean_broker_and_cache(name))
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
