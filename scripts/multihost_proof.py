#!/usr/bin/env python3
"""The multi-host proof, run by ``multihost.py run`` in the client host's namespace.

What users do, through nginx and straight at each web host: accounts, a course, an
assignment checked by a worker host, submissions graded, live events crossing web
hosts, a regrade, a grade-file import, and whose address a web host believes; and
what Redis and PostgreSQL show of it. Arguments come as JSON in ``MULTIHOST_ARGS``;
the report is the last line of stdout.
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
from multihost_hosts import Failed, log, until
from redis import Redis

TESTS = """\
import unittest

from double import double


class DoubleTest(unittest.TestCase):
    def test_doubles(self):
        self.assertEqual(double(21), 42)

    def test_zero(self):
        self.assertEqual(double(0), 0)
"""
FINAL = ("passed", "failed", "error")
TEACHER = "teacher@multihost.test"
STUDENTS = [f"student{i}@multihost.test" for i in (1, 2, 3)]


class Proof:
    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.deadline = time.monotonic() + float(args["seconds"])
        self.checks: list[dict[str, Any]] = []
        self.password = secrets.token_hex(12)

    # -- helpers

    def check(self, name: str, ok: bool, detail: object) -> None:
        self.checks.append({"name": name, "ok": bool(ok), "detail": detail})
        log(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            raise Failed(name)

    def client(self, host: str) -> httpx.Client:
        return httpx.Client(base_url=self.args[host], timeout=30)

    def sign_in(self, host: str, email: str, password: str | None = None) -> httpx.Client:
        http = self.client(host)
        body = {"email": email, "password": password or self.password}
        response = http.post("/api/auth/login", json=body)
        if response.status_code != 200:
            raise Failed(f"sign-in of {email} at {host}: {response.status_code} {response.text}")
        return http

    def same_session(self, http: httpx.Client, host: str) -> httpx.Client:
        """Another host, with the cookie the first one signed (one secret key for all)."""
        other = self.client(host)
        for cookie in http.cookies.jar:
            other.cookies.set(cookie.name, cookie.value or "")
        return other

    @staticmethod
    def expect(response: httpx.Response, status: int) -> Any:
        if response.status_code != status:
            request = response.request
            raise Failed(f"{request.method} {request.url}: {response.status_code} {response.text}")
        return response.json()

    def wait_for(self, http: httpx.Client, path: str, done: Callable[[Any], bool]) -> Any:
        body: Any = None

        def finished() -> bool:
            nonlocal body
            body = self.expect(http.get(path), 200)
            return done(body)

        until(self.deadline, f"{path} (last: {body})", finished)
        return body

    def submit(self, http: httpx.Client, code: str) -> int:
        path = f"/api/assignments/{self.assignment_id}/submissions"
        return int(self.expect(http.post(path, json={"code": code}), 202)["id"])

    # -- steps

    def ready(self) -> None:
        for host in ("proxy", "web1", "web2"):
            http = self.client(host)

            def answers(http: httpx.Client = http) -> bool:
                try:
                    return http.get("/readyz").status_code == 200
                except httpx.HTTPError:
                    return False

            until(self.deadline, f"{host} ready", answers, every=0.5)
        served = self.client("proxy").get("/healthz").headers.get("server", "")
        self.check("nginx answers on the proxy host", served.startswith("nginx"), served)

    def course_with_assignment(self) -> None:
        admin = self.sign_in("proxy", self.args["admin_email"], self.args["admin_password"])
        for email, role in [(TEACHER, "teacher")] + [(email, "student") for email in STUDENTS]:
            body = {"email": email, "password": self.password, "role": role}
            self.expect(admin.post("/api/users", json=body), 201)
        self.teacher = self.sign_in("proxy", TEACHER)
        course = {"slug": "multihost", "title": "Multi-host"}
        self.course_id = self.expect(self.teacher.post("/api/courses", json=course), 201)["id"]
        for email in STUDENTS:
            path = f"/api/courses/{self.course_id}/students"
            self.expect(self.teacher.post(path, json={"email": email}), 201)
        assignment = {
            "slug": "double",
            "title": "Double",
            "handout_md": "Write `double(x)`.",
            "module": "double",
            "tests": TESTS,
            "solution": "def double(x):\n    return 2 * x\n",
        }
        path = f"/api/courses/{self.course_id}/assignments"
        self.assignment_id = self.expect(self.teacher.post(path, json=assignment), 201)["id"]
        authored = self.wait_for(
            self.teacher, f"{path}/{self.assignment_id}", lambda body: body["state"] == "published"
        )
        self.check(
            "a worker host checked the new assignment",
            authored["check"]["status"] == "passed",
            authored["check"]["status"],
        )

    def submissions_through_nginx(self) -> None:
        for email, code, expected in [
            (STUDENTS[0], "def double(x):\n    return x + x\n", "passed"),
            (STUDENTS[1], "def double(x):\n    return x\n", "failed"),
        ]:
            student = self.sign_in("proxy", email)
            submission_id = self.submit(student, code)
            graded = self.wait_for(
                student, f"/api/submissions/{submission_id}", lambda body: body["status"] in FINAL
            )
            self.check(
                f"submission through nginx is {expected}",
                graded["status"] == expected,
                graded["status"],
            )

    def events_across_web_hosts(self) -> None:
        """Stream from web1, submit through web2: the worker's and web2's wake-ups reach
        web1 only through Redis (web hosts share nothing else but the database)."""
        on_web1 = self.sign_in("web1", STUDENTS[2])
        on_web2 = self.same_session(on_web1, "web2")
        me = self.expect(on_web2.get("/api/me"), 200)
        self.check("web2 accepts the session cookie web1 signed", me["email"] == STUDENTS[2], "")
        redis = Redis.from_url(self.args["redis_url"], socket_timeout=10)
        listener = redis.pubsub()
        listener.psubscribe(f"*:user:{me['id']}")
        seen: list[str] = []
        try:
            with on_web1.stream("GET", "/api/events") as stream:
                lines = stream.iter_lines()
                for line in lines:
                    if line.startswith(": connected") or time.monotonic() > self.deadline:
                        break
                submitted_at = time.monotonic()
                submission_id = self.submit(on_web2, "def double(x):\n    return x * 2\n")
                for line in lines:
                    if time.monotonic() > self.deadline:
                        raise Failed(f"no final event on web1 before the deadline: {seen}")
                    if not line.startswith("data: "):
                        continue
                    submission = json.loads(line[6:]).get("submission") or {}
                    if submission.get("id") == submission_id:
                        seen.append(submission["status"])
                        if submission["status"] in FINAL:
                            break
            self.check(
                "SSE on web1 carries a submission made through web2",
                seen[-1:] == ["passed"] and "queued" in seen,
                f"{seen}, {time.monotonic() - submitted_at:.1f} s after the submit",
            )
            wakeups = 0
            for _ in range(50):  # what was published while the stream ran, already here
                message = listener.get_message(timeout=0.2)
                if message is None:
                    break
                wakeups += message["type"] == "pmessage"
            self.check("the wake-ups for that user went through Redis", wakeups >= 1, wakeups)
        finally:
            listener.close()
            redis.close()

    def regrade(self) -> None:
        path = f"/api/assignments/{self.assignment_id}/regrade"
        started = self.expect(self.teacher.post(path), 202)
        self.wait_for(self.teacher, path, lambda body: body["remaining"] == 0)
        self.check(
            "a regrade of the assignment completes",
            started["total"] >= 3,
            f"{started['total']} submissions",
        )
        first = self.sign_in("proxy", STUDENTS[0])
        statuses = [
            item["status"] for item in self.expect(first.get("/api/submissions"), 200)["items"]
        ]
        self.check("the regraded result stands", statuses == ["passed"], statuses)

    def grade_import(self) -> None:
        rows = "".join(f"{email},{80 + i}\n" for i, email in enumerate(STUDENTS))
        upload = self.expect(
            self.teacher.post(
                f"/api/courses/{self.course_id}/grade-uploads",
                files={"file": ("grades.csv", ("student,grade\n" + rows).encode())},
            ),
            202,
        )
        imported = self.wait_for(
            self.same_session(self.teacher, "web2"),
            f"/api/grade-uploads/{upload['id']}",
            lambda body: body["status"] not in ("queued", "running"),
        )
        self.check(
            "a grade file is applied by a worker host",
            imported["status"] == "applied" and imported["changes_total"] == len(STUDENTS),
            f"{imported['status']}, {imported['changes_total']} changes",
        )
        grades = self.expect(self.sign_in("web1", STUDENTS[1]).get("/api/me/grades"), 200)
        self.check("the imported grade reaches the student on web1", "81" in json.dumps(grades), 81)
        left = int(
            sql(self.args["database_url"], "SELECT count(*) FROM pg_largeobject_metadata")[0][0]
        )
        self.check("the uploaded file went through large objects and is gone", left == 0, left)

    def client_address_behind_nginx(self) -> None:
        """Last, as it locks this client out: failed sign-ins made straight at web1 count
        against this host's address, and so does a sign-in through nginx on another host
        (were nginx's address counted instead, it would get through)."""
        stranger = self.client("web1")
        failures = [
            stranger.post(
                "/api/auth/login", json={"email": f"nobody{i}@multihost.test", "password": "x"}
            ).status_code
            for i in range(3)
        ]
        body = {"email": STUDENTS[0], "password": self.password}
        through_proxy = self.client("proxy").post("/api/auth/login", json=body).status_code
        self.check(
            "web hosts see the client's address behind nginx (GRADEFLOW_TRUSTED_PROXIES)",
            failures == [401, 401, 401] and through_proxy == 429,
            f"{failures} at web1, then {through_proxy} through nginx",
        )


def sql(url: str, query: str) -> list[tuple[Any, ...]]:
    plain = url.replace("postgresql+asyncpg://", "postgresql://")

    async def fetch() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(plain, timeout=10)
        try:
            return [tuple(row) for row in await connection.fetch(query)]
        finally:
            await connection.close()

    return asyncio.run(fetch())


def prove() -> int:
    proof = Proof(json.loads(os.environ["MULTIHOST_ARGS"]))
    report: dict[str, Any] = {"checks": proof.checks}
    steps = [
        proof.ready,
        proof.course_with_assignment,
        proof.submissions_through_nginx,
        proof.events_across_web_hosts,
        proof.regrade,
        proof.grade_import,
        proof.client_address_behind_nginx,
    ]
    try:
        for step in steps:
            step()
    except (Failed, httpx.HTTPError) as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(report), flush=True)
    return 0 if "error" not in report else 1


if __name__ == "__main__":
    sys.exit(prove())
