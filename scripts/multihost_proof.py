#!/usr/bin/env python3
"""The multi-host proof, run by ``multihost.py run`` on the client host's namespace.

Everything a user would see, through nginx and straight at each web host: accounts,
a course, an assignment checked by a worker host, submissions graded, live events
crossing web hosts, a regrade, a grade-file import, and whose address a web host
believes. Plus what PostgreSQL and Redis say about who is connected to them.
Arguments come as JSON in ``MULTIHOST_ARGS``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
from multihost import Failed, log, until
from redis import Redis


def prove() -> int:
    """The checks, logged as they pass; the report as JSON on stdout's last line."""
    args = json.loads(os.environ["MULTIHOST_ARGS"])
    deadline = time.monotonic() + float(args["seconds"])
    checks: list[dict[str, Any]] = []
    result: dict[str, Any] = {"checks": checks}

    def check(name: str, ok: bool, detail: object) -> None:
        checks.append({"name": name, "ok": bool(ok), "detail": detail})
        log(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            raise Failed(name)

    def client(base: str) -> httpx.Client:
        return httpx.Client(base_url=base, timeout=30)

    def wait_ready(http: httpx.Client) -> None:
        def ready() -> bool:
            try:
                return http.get("/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        until(deadline, f"{http.base_url}/readyz", ready, every=0.5)

    def sign_in(base: str, email: str, password: str) -> httpx.Client:
        http = client(base)
        response = http.post("/api/auth/login", json={"email": email, "password": password})
        if response.status_code != 200:
            raise Failed(f"sign-in of {email} at {base}: {response.status_code} {response.text}")
        return http

    def same_session(http: httpx.Client, base: str) -> httpx.Client:
        """Another host, with the cookie the first one signed (one secret key for all)."""
        other = client(base)
        for cookie in http.cookies.jar:
            other.cookies.set(cookie.name, cookie.value or "")
        return other

    def expect(response: httpx.Response, status: int) -> Any:
        if response.status_code != status:
            raise Failed(f"{response.request.method} {response.request.url}: {response.text}")
        return response.json()

    def wait_for(http: httpx.Client, path: str, done: Callable[[Any], bool], what: str) -> Any:
        body: Any = None

        def finished() -> bool:
            nonlocal body
            body = expect(http.get(path), 200)
            return done(body)

        until(deadline, f"{what} ({path}: last {body})", finished, every=0.3)
        return body

    try:
        proxy, web1, web2 = client(args["proxy"]), client(args["web1"]), client(args["web2"])
        for http in (proxy, web1, web2):
            wait_ready(http)
        served = proxy.get("/healthz").headers.get("server", "")
        check("nginx answers on the proxy host", served.startswith("nginx"), served)

        admin = sign_in(args["proxy"], args["admin_email"], args["admin_password"])
        password = secrets.token_hex(12)
        emails = [f"student{i}@multihost.test" for i in (1, 2, 3)]
        for email, role in [("teacher@multihost.test", "teacher")] + [
            (e, "student") for e in emails
        ]:
            expect(
                admin.post("/api/users", json={"email": email, "password": password, "role": role}),
                201,
            )
        teacher = sign_in(args["proxy"], "teacher@multihost.test", password)
        course = expect(
            teacher.post("/api/courses", json={"slug": "multihost", "title": "Multi-host"}), 201
        )
        course_id = course["id"]
        for email in emails:
            expect(teacher.post(f"/api/courses/{course_id}/students", json={"email": email}), 201)
        authored = expect(
            teacher.post(
                f"/api/courses/{course_id}/assignments",
                json={
                    "slug": "double",
                    "title": "Double",
                    "handout_md": "Write `double(x)`.",
                    "module": "double",
                    "tests": TESTS,
                    "solution": "def double(x):\n    return 2 * x\n",
                },
            ),
            201,
        )
        assignment_id = authored["id"]
        published = wait_for(
            teacher,
            f"/api/courses/{course_id}/assignments/{assignment_id}",
            lambda body: body["state"] == "published",
            "the reference solution checked by a worker",
        )
        check("a worker host checked the new assignment", True, published["check"]["status"])

        # Submissions through nginx, graded by the worker hosts.
        statuses = {}
        for email, code, expected in [
            (emails[0], "def double(x):\n    return x + x\n", "passed"),
            (emails[1], "def double(x):\n    return x\n", "failed"),
        ]:
            student = sign_in(args["proxy"], email, password)
            submitted = expect(
                student.post(f"/api/assignments/{assignment_id}/submissions", json={"code": code}),
                202,
            )
            graded = wait_for(
                student,
                f"/api/submissions/{submitted['id']}",
                lambda body: body["status"] in ("passed", "failed", "error"),
                "a submission graded",
            )
            statuses[email] = graded["status"]
            check(
                f"submission through nginx is {expected}",
                graded["status"] == expected,
                graded["status"],
            )

        # Live events across web hosts: stream from web1, submit through web2.
        student3_web1 = sign_in(args["web1"], emails[2], password)
        student3_web2 = same_session(student3_web1, args["web2"])
        me = expect(student3_web2.get("/api/me"), 200)
        check("web2 accepts the session cookie web1 signed", me["email"] == emails[2], me["id"])
        seen: list[str] = []
        started = time.monotonic()
        with student3_web1.stream("GET", "/api/events") as stream:
            lines = stream.iter_lines()
            for line in lines:
                if line.startswith(": connected"):
                    break
            redis_clients = redis_client_addresses(args["redis_url"])
            submitted = expect(
                student3_web2.post(
                    f"/api/assignments/{assignment_id}/submissions",
                    json={"code": "def double(x):\n    return x * 2\n"},
                ),
                202,
            )
            for line in lines:
                if time.monotonic() > deadline:
                    raise Failed(f"no final event on web1 before the deadline: {seen}")
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    submission = event.get("submission") or {}
                    if submission.get("id") == submitted["id"]:
                        seen.append(submission["status"])
                        if submission["status"] in ("passed", "failed", "error"):
                            break
        check(
            "SSE on web1 carries a submission made through web2",
            seen[-1:] == ["passed"] and "queued" in seen,
            f"{seen} in {time.monotonic() - started:.1f} s",
        )
        expected_clients = set(args["gradeflow_hosts"])
        check(
            "every web and worker host talks to Redis over the private network",
            expected_clients <= redis_clients,
            sorted(redis_clients),
        )

        # A regrade of the assignment, each submission graded again by a worker host.
        started_regrade = expect(teacher.post(f"/api/assignments/{assignment_id}/regrade"), 202)
        progress = wait_for(
            teacher,
            f"/api/assignments/{assignment_id}/regrade",
            lambda body: body["remaining"] == 0,
            "the regrade",
        )
        check(
            "a regrade of the assignment completes",
            started_regrade["total"] >= 3 and progress["remaining"] == 0,
            f"{started_regrade['total']} submissions",
        )
        first = sign_in(args["proxy"], emails[0], password)
        mine = expect(first.get("/api/submissions"), 200)
        check(
            "regraded results stand",
            all(item["status"] in ("passed", "failed") for item in mine["items"]),
            [item["status"] for item in mine["items"]],
        )

        # A grade file through nginx, applied by a worker host, read back from web2.
        rows = "".join(f"{email},{80 + i}\n" for i, email in enumerate(emails))
        upload = expect(
            teacher.post(
                f"/api/courses/{course_id}/grade-uploads",
                files={"file": ("grades.csv", ("student,grade\n" + rows).encode())},
            ),
            202,
        )
        teacher_web2 = same_session(teacher, args["web2"])
        imported = wait_for(
            teacher_web2,
            f"/api/grade-uploads/{upload['id']}",
            lambda body: body["status"] not in ("queued", "running"),
            "the grade import",
        )
        check(
            "a grade file is applied by a worker host",
            imported["status"] == "applied" and imported["changes_total"] == len(emails),
            f"{imported['status']}, {imported['changes_total']} changes",
        )
        student_web1 = sign_in(args["web1"], emails[1], password)
        grades = expect(student_web1.get("/api/me/grades"), 200)
        check("the imported grade reaches the student on web1", "81" in json.dumps(grades), "81")
        result["database_clients"] = database_client_addresses(args["database_url"])
        check(
            "every web and worker host talks to PostgreSQL over the private network",
            expected_clients <= set(result["database_clients"]),
            result["database_clients"],
        )
        left = large_objects(args["database_url"])
        check("the uploaded file went through large objects and is gone", left == 0, left)

        # Last, as it locks this client out: failed sign-ins made straight at web1 count
        # against this host's address, and so does a sign-in through nginx on another
        # host (were nginx's address counted instead, it would get through).
        stranger = client(args["web1"])
        failures = [
            stranger.post(
                "/api/auth/login", json={"email": f"nobody{i}@multihost.test", "password": "x"}
            ).status_code
            for i in range(3)
        ]
        through_proxy = client(args["proxy"]).post(
            "/api/auth/login", json={"email": emails[0], "password": password}
        )
        check(
            "web hosts see the client's address behind nginx (GRADEFLOW_TRUSTED_PROXIES)",
            failures == [401, 401, 401] and through_proxy.status_code == 429,
            f"{failures} at web1, then {through_proxy.status_code} through nginx",
        )
    except (Failed, httpx.HTTPError) as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result), flush=True)
    return 0 if "error" not in result else 1


TESTS = """\
import unittest

from double import double


class DoubleTest(unittest.TestCase):
    def test_doubles(self):
        self.assertEqual(double(21), 42)

    def test_zero(self):
        self.assertEqual(double(0), 0)
"""


def redis_client_addresses(url: str) -> set[str]:
    redis = Redis.from_url(url, socket_timeout=10)
    try:
        return {client["addr"].rsplit(":", 1)[0] for client in redis.client_list()}
    finally:
        redis.close()


def _sql(url: str, query: str) -> list[Any]:
    plain = url.replace("postgresql+asyncpg://", "postgresql://")

    async def fetch() -> list[Any]:
        connection = await asyncpg.connect(plain, timeout=10)
        try:
            return [tuple(row) for row in await connection.fetch(query)]
        finally:
            await connection.close()

    return asyncio.run(fetch())


def database_client_addresses(url: str) -> list[str]:
    rows = _sql(
        url, "SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE client_addr IS NOT NULL"
    )
    return sorted(str(row[0]) for row in rows)


def large_objects(url: str) -> int:
    return int(_sql(url, "SELECT count(*) FROM pg_largeobject_metadata")[0][0])


if __name__ == "__main__":
    sys.exit(prove())
