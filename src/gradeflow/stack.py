"""``gradeflow stack``: services mode on one host under a process manager (honcho).

nginx (static files, load balancing, unbuffered SSE) in front of N web processes
and M workers, against the local PostgreSQL, RabbitMQ and Redis. The generated
files live in ``{data_dir}/stack`` so a run can be inspected afterwards.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from gradeflow.errors import RETRY_AFTER_UNAVAILABLE_S

STATIC_DIR = Path(__file__).parent / "web" / "static"
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/gradeflow"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SERVICES = {"PostgreSQL": 5432, "RabbitMQ": 5672, "Redis": 6379}
# nginx closes an idle connection to a web process after UPSTREAM_IDLE_S; the web
# process keeps it longer (WEB_KEEP_ALIVE_S), so it never closes one that nginx is
# just sending a request on. uvicorn's default (5 s) against nginx's (60 s) made that
# race likely: nginx may not pass on a POST it sent, so the client got a 502 (now a
# 503) with nothing wrong.
UPSTREAM_IDLE_S = 30
WEB_KEEP_ALIVE_S = UPSTREAM_IDLE_S + 30


class StackError(RuntimeError):
    """The stack cannot start."""


@dataclass(frozen=True)
class StackPlan:
    directory: Path
    web: int
    workers: int
    concurrency: int
    port: int
    first_web_port: int
    host: str = "127.0.0.1"
    # nginx must let grade files through at the size the web processes accept.
    max_upload_mb: int = 200
    # "address:port" of web processes on other hosts; empty: host:web_ports on this one.
    upstreams: tuple[str, ...] = ()

    @property
    def web_ports(self) -> list[int]:
        return [self.first_web_port + i for i in range(self.web)]

    @property
    def upstream_addresses(self) -> tuple[str, ...]:
        return self.upstreams or tuple(f"{self.host}:{port}" for port in self.web_ports)

    @property
    def pages_directory(self) -> Path:
        return self.directory / "pages"

    @property
    def pid_file(self) -> Path:
        return self.directory / "stack.pid"


def unreachable_services() -> list[str]:
    missing = []
    for name, port in SERVICES.items():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except OSError:
            missing.append(f"{name} (127.0.0.1:{port})")
    return missing


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise StackError(
            "nginx is not installed: run `make stack` (it installs it) or apt-get install nginx"
        )
    return found


def _worker_user() -> str:
    """Started as root, nginx's workers drop to ``nobody``, who may not read a checkout
    in a private directory: they run as the owner of the files they serve instead."""
    if os.geteuid() != 0:
        return ""  # unprivileged nginx keeps its own user; the directive would be ignored
    owner = STATIC_DIR.stat()
    return f"user {pwd.getpwuid(owner.st_uid).pw_name} {grp.getgrgid(owner.st_gid).gr_name};\n"


def nginx_config(plan: StackPlan) -> str:
    """An nginx.conf that runs unprivileged in the foreground with every path in the stack dir."""
    d = plan.directory
    upstreams = "\n".join(
        f"        server {address} max_fails=1 fail_timeout=2s;"
        for address in plan.upstream_addresses
    )
    # Failover (proxy_next_upstream): a request that found a web process dead (refused,
    # reset, timed out) is passed to the next one, at most once more and within 30 s.
    # nginx never passes on a POST or PATCH that it had already sent (that needs
    # `non_idempotent`, left out on purpose): the dead process may have stored it, and a
    # second copy would double a submission. Those fail, and so do requests that find
    # no web process at all; their 502/504 becomes the documented 503 below.
    # Not http_503: a web process answers 503 when a service every web process shares
    # (PostgreSQL, RabbitMQ) is down. Retrying it elsewhere gets the same answer, and
    # counts each web process failed (max_fails), so nginx answered 502 "no live
    # upstreams" instead of the 503 and its error body (found by bench/chaos.py).
    proxy = """
            proxy_pass http://gradeflow_web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Request-ID $request_id;
            proxy_next_upstream error timeout http_502;
            proxy_next_upstream_tries 2;
            proxy_next_upstream_timeout 30s;"""
    # nginx's own 502/504 (no web process answered) as the API's 503: the error shape
    # for /api/..., the friendly page for pages, Retry-After on both. Only errors nginx
    # makes itself: a web process's own answers pass unchanged (no proxy_intercept_errors).
    api_unavailable = "\n            error_page 502 504 =503 /unavailable.json;"
    page_unavailable = "\n            error_page 502 504 =503 /unavailable.html;"
    unavailable = f"""
            internal;
            root {plan.pages_directory};
            add_header Retry-After {RETRY_AFTER_UNAVAILABLE_S} always;
            add_header Cache-Control "no-store" always;"""
    return f"""# generated by `gradeflow stack up`; edits are overwritten
{_worker_user()}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    access_log {d}/nginx-access.log;
    client_body_temp_path {d}/nginx-tmp/body;
    proxy_temp_path {d}/nginx-tmp/proxy;
    fastcgi_temp_path {d}/nginx-tmp/fastcgi;
    uwsgi_temp_path {d}/nginx-tmp/uwsgi;
    scgi_temp_path {d}/nginx-tmp/scgi;
    # Grade files stream through to the web process (which enforces the exact limit)
    # instead of being spooled to disk first.
    client_max_body_size {plan.max_upload_mb + 1}m;
    proxy_request_buffering off;
    upstream gradeflow_web {{
        least_conn;
{upstreams}
        keepalive 32;
        keepalive_timeout {UPSTREAM_IDLE_S}s;
    }}
    server {{
        listen {plan.host}:{plan.port};
        location /static/ {{
            alias {STATIC_DIR}/;
            expires 1h;
        }}
        # The practice page's shell, the same file for every student: app.js fills it
        # from /api/practice. Revalidated on each visit, so a new release shows at once.
        location ~ "^/(assignments/[0-9]+|courses/[0-9]+/practice)?$" {{
            root {plan.pages_directory};
            try_files /practice.html =404;
            add_header Cache-Control "no-cache";
        }}
        location = /api/events {{{proxy}{api_unavailable}
            # Server-Sent Events: pass every byte through at once, keep the stream open.
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 1h;
        }}
        location /api/ {{{proxy}{api_unavailable}
        }}
        location / {{{proxy}{page_unavailable}
        }}
        location = /unavailable.json {{{unavailable}
        }}
        location = /unavailable.html {{{unavailable}
        }}
    }}
}}
"""


def procfile(plan: StackPlan) -> str:
    python = shlex.quote(sys.executable)
    lines = [
        f"nginx: {shlex.quote(nginx_binary())} -c {shlex.quote(str(plan.directory / 'nginx.conf'))}"
    ]
    for index, port in enumerate(plan.web_ports, start=1):
        lines.append(f"web{index}: {python} -m gradeflow web --port {port}")
    for index in range(1, plan.workers + 1):
        lines.append(
            f"worker{index}: {python} -m gradeflow worker --concurrency {plan.concurrency}"
        )
    return "\n".join(lines) + "\n"


def write_stack_files(plan: StackPlan) -> Path:
    """nginx.conf and the Procfile (the pages nginx serves from disk are the web
    package's to write: ``gradeflow.web.pages.write_static_pages``)."""
    (plan.directory / "nginx-tmp").mkdir(parents=True, exist_ok=True)
    (plan.directory / "nginx.conf").write_text(nginx_config(plan))
    path = plan.directory / "Procfile"
    path.write_text(procfile(plan))
    return path


def services_environment() -> dict[str, str]:
    """The GRADEFLOW_* URLs of the local services, unless the caller set them."""
    env = dict(os.environ)
    env.setdefault("GRADEFLOW_DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("GRADEFLOW_BROKER_URL", DEFAULT_BROKER_URL)
    env.setdefault("GRADEFLOW_REDIS_URL", DEFAULT_REDIS_URL)
    return env
