#!/usr/bin/env python3
"""The load and the invariant checker of ``bench/chaos.py``, run in its client namespace.

``load``: students read pages and ``/api/practice``, submit distinct code (some of it
fills the sandbox's tmpfs) and follow their submissions on ``/api/events``
(reconnecting with ``Last-Event-ID``), a teacher uploads grade files; every answer
is logged. The load runs until the orchestrator's stop file appears, then drains:
it waits (bounded) for every accepted submission and upload to end.

``check``: proves from the database and those logs that nothing was lost or
doubled (see ``check``). Arguments come as JSON in ``CHAOS_ARGS``; the report is
the last line of stdout.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

TESTS = """\
import unittest

from double import double


class DoubleTest(unittest.TestCase):
    def test_doubles(self):
        self.assertEqual(double(21), 42)
"""
FINAL = ("passed", "failed", "error")
UPLOAD_FINAL = ("applied", "validated", "rejected", "failed")
# Writes until the sandbox's private /tmp is full, then answers correctly: the run
# after it in the same slot must find an empty tmp again.
FILL_TMP = """\
def double(x):
    return 2 * x


# Several files: the file-size limit may stop one before the tmpfs is full.
for number in range(64):
    try:
        with open(f"/tmp/fill{number}", "wb") as out:
            for _ in range(1024):
                out.write(b"x" * (1 << 20))
    except OSError as exc:
        if exc.errno == 28:  # ENOSPC: full
            break
"""
REQUEST_TIMEOUT_S = 20.0


def log(message: str) -> None:
    print(f"chaos-load: {message}", file=sys.stderr, flush=True)


@dataclass
class Journal:
    """Every answer the clients got, and what each one accepted."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    submissions: dict[int, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[int, dict[str, Any]] = field(default_factory=dict)
    # Per user: the last status each submission had in that user's stream.
    streamed: dict[int, dict[int, str]] = field(default_factory=dict)
    # Every submit, answered or not: who, the code's hash, and what came back.
    attempts: list[dict[str, Any]] = field(default_factory=list)
    reconnects: int = 0

    def note(self, who: str, method: str, path: str, status: int | str, error: str = "") -> None:
        self.requests.append(
            {
                "t": time.time(),
                "who": who,
                "method": method,
                "path": path,
                "status": status,
                "error": error,
            }
        )


class Load:
    def __init__(self, args: dict[str, Any]) -> None:
        self.args = args
        self.base = args["proxy"]
        self.stop_file = Path(args["stop_file"])
        self.journal = Journal()
        self.password = secrets.token_hex(12)
        self.random = random.Random(args.get("seed", 13))
        self.code_counter = 0

    def stopping(self) -> bool:
        return self.stop_file.exists() or time.monotonic() > self.load_deadline

    async def call(
        self, http: httpx.AsyncClient, who: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        """One request, logged; a transport error is logged and is None."""
        try:
            response = await http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.journal.note(who, method, path, type(exc).__name__)
            return None
        error = server_error(response) if response.status_code >= 500 else ""
        self.journal.note(who, method, path, response.status_code, error)
        return response

    async def must(self, http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
        """Setup calls, before any fault: retried briefly, then fatal."""
        for _ in range(20):
            response = await self.call(http, "setup", method, path, **kwargs)
            if response is not None and response.status_code < 300:
                return response.json()
            await asyncio.sleep(1)
        detail = response.text if response is not None else "no answer"
        raise RuntimeError(f"{method} {path}: {detail}")

    async def sign_in(self, email: str, password: str) -> httpx.AsyncClient:
        http = httpx.AsyncClient(base_url=self.base, timeout=REQUEST_TIMEOUT_S)
        await self.must(
            http, "POST", "/api/auth/login", json={"email": email, "password": password}
        )
        return http

    async def setup(self) -> None:
        admin = await self.sign_in(self.args["admin_email"], self.args["admin_password"])
        self.teacher_email = "teacher@chaos.test"
        self.student_emails = [f"s{i}@chaos.test" for i in range(int(self.args["students"]))]
        for email, role in [(self.teacher_email, "teacher")] + [
            (e, "student") for e in self.student_emails
        ]:
            body = {"email": email, "password": self.password, "role": role}
            await self.must(admin, "POST", "/api/users", json=body)
        await admin.aclose()
        self.teacher = await self.sign_in(self.teacher_email, self.password)
        course = await self.must(
            self.teacher, "POST", "/api/courses", json={"slug": "chaos", "title": "Chaos"}
        )
        self.course_id = int(course["id"])
        for email in self.student_emails:
            path = f"/api/courses/{self.course_id}/students"
            await self.must(self.teacher, "POST", path, json={"email": email})
        assignment = {
            "slug": "double",
            "title": "Double",
            "handout_md": "Write `double(x)`.",
            "module": "double",
            "tests": TESTS,
            "solution": "def double(x):\n    return 2 * x\n",
            "time_limit_s": 5,
        }
        path = f"/api/courses/{self.course_id}/assignments"
        created = await self.must(self.teacher, "POST", path, json=assignment)
        self.assignment_id = int(created["id"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            body = await self.must(self.teacher, "GET", f"{path}/{self.assignment_id}")
            if body["state"] == "published":
                return
            await asyncio.sleep(1)
        raise RuntimeError("the assignment was not checked within 120 s")

    def next_code(self) -> tuple[str, str]:
        """Distinct code each time (no reuse of an earlier result), and what it earns."""
        self.code_counter += 1
        mark = f"# submission {self.code_counter}\n"
        kind = self.random.choice(["right", "right", "wrong", "fill"])
        if kind == "fill":
            return mark + FILL_TMP, "passed"
        if kind == "wrong":
            return mark + "def double(x):\n    return x\n", "failed"
        return mark + "def double(x):\n    return x + x\n", "passed"

    async def follow_events(
        self, http: httpx.AsyncClient, who: str, user_id: int, connected: asyncio.Event
    ) -> None:
        """The user's SSE stream, as a browser's EventSource would follow it."""
        seen = self.journal.streamed.setdefault(user_id, {})
        last_id: str | None = None
        while not self.streams_done.is_set():
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                async with http.stream(
                    "GET", "/api/events", headers=headers, timeout=httpx.Timeout(10, read=40)
                ) as stream:
                    error = ""
                    if stream.status_code >= 500:
                        await stream.aread()
                        error = server_error(stream)
                    self.journal.note(who, "GET", "/api/events", stream.status_code, error)
                    if stream.status_code == 200:
                        event_id: str | None = None
                        async for line in stream.aiter_lines():
                            if line.startswith(": connected"):
                                connected.set()
                            elif line.startswith("id: "):
                                event_id = line[4:]
                            elif line.startswith("data: "):
                                submission = json.loads(line[6:]).get("submission") or {}
                                if "id" in submission:
                                    seen[int(submission["id"])] = submission["status"]
                            elif line == "" and event_id is not None:
                                # As EventSource: a block's id counts once the block is
                                # whole, with data or without (the stream's opening).
                                last_id, event_id = event_id, None
                            if self.streams_done.is_set():
                                return
            except httpx.HTTPError as exc:
                self.journal.note(who, "GET", "/api/events", type(exc).__name__)
            self.journal.reconnects += 1
            await asyncio.sleep(0.5 + self.random.random())

    async def sign_in_student(self, email: str) -> int:
        """Signed in and following the stream, before any fault (setup calls are fatal
        after a few retries); the student's user id."""
        http = self.clients[email] = await self.sign_in(email, self.password)
        me = await self.must(http, "GET", "/api/me")
        user_id = int(me["id"])
        connected = asyncio.Event()
        follower = asyncio.create_task(self.follow_events(http, email, user_id, connected))
        self.followers.append(follower)
        await asyncio.wait_for(connected.wait(), timeout=60)
        return user_id

    async def student(self, email: str, user_id: int) -> None:
        http = self.clients[email]
        pending: int | None = None
        while not self.stopping():
            await self.call(http, email, "GET", f"/api/practice?assignment={self.assignment_id}")
            await self.call(http, email, "GET", "/")
            if pending is None:
                pending = await self.submit(http, email, user_id)
            else:
                response = await self.call(http, email, "GET", f"/api/submissions/{pending}")
                if (
                    response is not None
                    and response.status_code == 200
                    and response.json()["status"] in FINAL
                ):
                    pending = None
            await self.call(http, email, "GET", "/api/submissions")
            await asyncio.sleep(0.5 + self.random.random())

    async def submit(self, http: httpx.AsyncClient, email: str, user_id: int) -> int | None:
        """One new submission; its id if accepted. Every attempt is journaled by its
        code's hash, so the checker finds what an attempt stored even when its answer
        was lost (a reset or timeout) or a 5xx (the process may have stored it first)."""
        code, expected = self.next_code()
        path = f"/api/assignments/{self.assignment_id}/submissions"
        timeout: dict[str, Any] = {}
        give_up_share = float(self.args.get("give_up_share", 0))
        if give_up_share and self.random.random() < give_up_share:
            # A student who stops waiting (a closed tab, a cut network) within 0.2 s:
            # the server may store the submission all the same, and the student learns
            # of it only from the stream and the list (checked: ``check_attempts``).
            timeout["timeout"] = httpx.Timeout(REQUEST_TIMEOUT_S, read=self.random.random() / 5)
        response = await self.call(http, email, "POST", path, json={"code": code}, **timeout)
        attempt = {
            "who": email,
            "user_id": user_id,
            "code_hash": hashlib.sha256(code.encode()).hexdigest(),
            "expected": expected,
        }
        if response is None or response.status_code >= 500:
            answer = "no answer" if response is None else str(response.status_code)
            self.journal.attempts.append(attempt | {"outcome": "unknown", "answer": answer})
            return None
        if response.status_code != 202:
            self.journal.attempts.append(
                attempt | {"outcome": "refused", "answer": str(response.status_code)}
            )
            return None
        submission_id = int(response.json()["id"])
        self.journal.attempts.append(attempt | {"outcome": "accepted", "id": submission_id})
        self.journal.submissions[submission_id] = {
            "user_id": user_id,
            "who": email,
            "expected": expected,
        }
        return submission_id

    async def teacher_uploads(self) -> None:
        number = 0
        while not self.stopping():
            number += 1
            assessment = f"chaos-{number}"
            grades = {email: float(self.random.randint(0, 100)) for email in self.student_emails}
            text = "student,grade,assessment\n" + "".join(
                f"{email},{grade:g},{assessment}\n" for email, grade in grades.items()
            )
            response = await self.call(
                self.teacher,
                "teacher",
                "POST",
                f"/api/courses/{self.course_id}/grade-uploads",
                files={"file": (f"{assessment}.csv", text.encode())},
            )
            if response is not None and response.status_code == 202:
                self.journal.uploads[int(response.json()["id"])] = {
                    "assessment": assessment,
                    "grades": grades,
                }
            await asyncio.sleep(2 + 2 * self.random.random())

    async def drain(self) -> dict[str, int]:
        """Wait, bounded, until every accepted submission and upload is final and every
        stream has shown each submission's final state."""
        deadline = time.monotonic() + float(self.args["drain_s"])
        left: dict[str, int] = {}
        while time.monotonic() < deadline:
            unfinished_uploads = 0
            for upload_id in self.journal.uploads:
                response = await self.call(
                    self.teacher, "drain", "GET", f"/api/grade-uploads/{upload_id}"
                )
                if (
                    response is None
                    or response.status_code != 200
                    or response.json()["status"] not in UPLOAD_FINAL
                ):
                    unfinished_uploads += 1
            unstreamed = sum(
                1
                for sid, info in self.journal.submissions.items()
                if self.journal.streamed.get(info["user_id"], {}).get(sid) not in FINAL
            )
            unanswered = await self.unstreamed_lost_answers()
            left = {
                "uploads": unfinished_uploads,
                "streams": unstreamed,
                "lost_answer_streams": unanswered,
            }
            if not unfinished_uploads and not unstreamed and not unanswered:
                break
            await asyncio.sleep(2)
        return left

    async def unstreamed_lost_answers(self) -> int:
        """Submissions a submit whose answer was lost may have stored (the student
        never learnt their id): those the student's own list shows that are not final
        yet, or whose final state the student's stream has not shown yet."""
        users = {a["who"]: a["user_id"] for a in self.journal.attempts if a["outcome"] == "unknown"}
        left = 0
        for email, user_id in users.items():
            response = await self.call(
                self.clients[email], "drain", "GET", "/api/submissions?limit=500"
            )
            if response is None or response.status_code != 200:
                left += 1
                continue
            seen = self.journal.streamed.get(user_id, {})
            for item in response.json()["items"]:
                if item["id"] in self.journal.submissions:
                    continue  # accepted: waited for above
                if item["status"] not in FINAL or seen.get(item["id"]) != item["status"]:
                    left += 1
        return left

    async def run(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The report, and the journal for the checker."""
        self.load_deadline = time.monotonic() + float(self.args["max_load_s"])
        self.streams_done = asyncio.Event()
        self.followers: list[asyncio.Task[None]] = []
        self.clients: dict[str, httpx.AsyncClient] = {}
        await self.setup()
        user_ids = await asyncio.gather(*map(self.sign_in_student, self.student_emails))
        await asyncio.to_thread(Path(self.args["ready_file"]).touch)
        log(f"setup done; {len(self.student_emails)} students and a teacher at work")
        await asyncio.gather(
            *map(self.student, self.student_emails, user_ids), self.teacher_uploads()
        )
        log(f"load over: {len(self.journal.submissions)} submissions accepted; draining")
        left = await self.drain()
        self.streams_done.set()
        for follower in self.followers:
            follower.cancel()
        await asyncio.gather(*self.followers, return_exceptions=True)
        for http in [*self.clients.values(), self.teacher]:
            await http.aclose()
        journal = self.journal
        kept = {
            "requests": journal.requests,
            "submissions": {str(k): v for k, v in journal.submissions.items()},
            "uploads": {str(k): v for k, v in journal.uploads.items()},
            "streamed": {
                str(user): {str(s): status for s, status in seen.items()}
                for user, seen in journal.streamed.items()
            },
            "reconnects": journal.reconnects,
            "attempts": journal.attempts,
            "students": self.student_emails,
            "course_id": self.course_id,
        }
        return {"left_after_drain": left, "reconnects": journal.reconnects}, kept


# -- the invariant checker


# Faults during which a service or web process is away: the documented 503 then.
OUTAGES = ("web", "postgres", "rabbitmq", "redis")
# What a documented 503 says about itself (``server_error``): the API's error code,
# or the friendly page (nginx's for pages, gradeflow.web.pages.unavailable_page).
DOCUMENTED_503 = ("unavailable", "unavailable page")


def server_error(response: httpx.Response) -> str:
    """Who answered a 5xx and how, for the checker: the API error's code, "unavailable
    page" for the friendly HTML page; a 503 without ``Retry-After`` is not documented."""
    if response.status_code == 503 and "retry-after" not in response.headers:
        return "no Retry-After"
    if response.headers.get("content-type", "").startswith("text/html"):
        if 'data-status="503"' in response.text:
            return "unavailable page"
        return "html: " + response.text[:60].replace("\n", " ")
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "not json: " + response.text[:60].replace("\n", " ")


def allowed_5xx(
    status: int, error: str, at: float, windows: list[dict[str, Any]], grace_s: float
) -> str:
    """The outage that explains a 5xx, or "". Only a documented 503 (error shape or
    page, ``Retry-After``) while a web process, PostgreSQL, RabbitMQ or Redis is away:
    nginx answers it when no web process could (a POST in flight on a killed one is
    not passed on), the web process when a service is down. Never a 502, 504 or 500.
    Each window is widened by ``grace_s`` for the reconnects that follow it."""
    if status != 503 or error not in DOCUMENTED_503:
        return ""
    for window in windows:
        if window["start"] - 1 <= at <= window["end"] + grace_s and window["kind"] in OUTAGES:
            return str(window["kind"])
    return ""


def during_fault(at: float, windows: list[dict[str, Any]], grace_s: float) -> str:
    """The faults whose (widened) windows hold ``at``, for the report."""
    kinds = {w["kind"] for w in windows if w["start"] - 1 <= at <= w["end"] + grace_s}
    return "+".join(sorted(kinds)) or "no fault"


async def stored_by_attempt(
    connection: asyncpg.Connection, attempts: list[dict[str, Any]], wait_s: float
) -> dict[tuple[int, str], list[asyncpg.Record]]:
    """The submissions of the attempts' users, by (user, code hash). An attempt whose
    answer was lost may have been stored late in the load: waited for (bounded) until
    none is queued or running."""
    users = sorted({int(a["user_id"]) for a in attempts})
    deadline = time.monotonic() + wait_s
    while True:
        rows = await connection.fetch(
            "SELECT id, user_id, code_hash, status, feedback::text AS feedback"
            " FROM submissions WHERE user_id = ANY($1::int[])",
            users,
        )
        if all(row["status"] in FINAL for row in rows) or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    stored: dict[tuple[int, str], list[asyncpg.Record]] = {}
    for row in rows:
        stored.setdefault((row["user_id"], row["code_hash"]), []).append(row)
    return stored


def check_attempts(
    attempts: list[dict[str, Any]],
    stored: dict[tuple[int, str], list[asyncpg.Record]],
    finals: dict[int, list[str]],
    streamed: dict[str, dict[str, str]],
) -> tuple[list[str], dict[str, int]]:
    """Each submit attempt (each with code of its own) stored at most once: an accepted
    one exactly once as the id it was given, a refused one (4xx) not at all, one whose
    answer was lost or a 5xx at most once, and if stored, final with one final event,
    the status its code earns, and that final status the last state the student's own
    stream showed for it (``streamed``: user id → submission id → status, as journaled)."""
    violations: list[str] = []
    counts = {"accepted": 0, "refused": 0, "unknown": 0, "unknown_stored": 0}
    for attempt in attempts:
        rows = stored.get((int(attempt["user_id"]), attempt["code_hash"]), [])
        outcome = attempt["outcome"]
        counts[outcome] += 1
        what = f"attempt by {attempt['who']} ({attempt['code_hash'][:12]}, {outcome})"
        ids = [row["id"] for row in rows]
        if outcome == "accepted" and ids != [attempt["id"]]:
            violations.append(f"{what}: stored as {ids}, not once as {attempt['id']}")
        elif outcome == "refused" and ids:
            violations.append(f"{what}: refused with {attempt['answer']} yet stored as {ids}")
        elif outcome == "unknown" and len(ids) > 1:
            violations.append(f"{what}: answer lost ({attempt['answer']}), stored twice: {ids}")
        elif outcome == "unknown" and ids:
            counts["unknown_stored"] += 1
            row = rows[0]
            if row["status"] not in FINAL:
                violations.append(f"{what}: stored as {row['id']}, still {row['status']}")
            elif len(finals.get(row["id"], [])) != 1:
                violations.append(f"{what}: {finals.get(row['id'], [])} final events, not one")
            elif row["status"] == "error":
                if not json.loads(row["feedback"] or "{}").get("message"):
                    violations.append(f"{what}: error without a message")
            elif row["status"] != attempt["expected"]:
                violations.append(f"{what}: {row['status']}, the code earns {attempt['expected']}")
            if row["status"] in FINAL:
                shown = streamed.get(str(attempt["user_id"]), {}).get(str(row["id"]))
                if shown != row["status"]:
                    violations.append(
                        f"{what}: stored as {row['id']}, {row['status']}, but its stream's"
                        f" last state is {shown}"
                    )
    return violations, counts


async def check(
    args: dict[str, Any], journal: dict[str, Any], windows: list[dict[str, Any]]
) -> dict[str, Any]:
    """Every accepted submission has one final result (and one final event), which its
    stream showed; no submit attempt stored twice, even one whose answer was lost;
    every accepted upload is applied exactly as its file says or changed nothing;
    every 5xx is a documented 503 during an outage."""
    violations: list[str] = []
    connection = await asyncpg.connect(
        args["database_url"].replace("postgresql+asyncpg://", "postgresql://"), timeout=20
    )
    try:
        # First: the final events are read after every submission has ended.
        attempts = journal["attempts"]
        stored = await stored_by_attempt(connection, attempts, wait_s=60)
        accepted = {int(k): v for k, v in journal["submissions"].items()}
        rows = {
            row["id"]: row
            for row in await connection.fetch(
                "SELECT id, user_id, status, feedback::text AS feedback FROM submissions"
                " WHERE id = ANY($1::int[])",
                list(accepted),
            )
        }
        finals: dict[int, list[str]] = {}
        for row in await connection.fetch(
            "SELECT (payload::jsonb -> 'submission' ->> 'id')::int AS id,"
            " payload::jsonb -> 'submission' ->> 'status' AS status"
            " FROM events WHERE type = 'submission'"
        ):
            if row["status"] in FINAL:
                finals.setdefault(row["id"], []).append(row["status"])
        outcomes: dict[str, int] = {}
        for sid, info in accepted.items():
            row = rows.get(sid)
            if row is None:
                violations.append(f"submission {sid}: accepted (202) but not in the database")
                continue
            status = row["status"]
            outcomes[status] = outcomes.get(status, 0) + 1
            if status not in FINAL:
                violations.append(f"submission {sid}: still {status} after the drain")
                continue
            if row["user_id"] != info["user_id"]:
                violations.append(f"submission {sid}: stored for another user")
            if len(finals.get(sid, [])) != 1:
                violations.append(f"submission {sid}: {finals.get(sid, [])} final events, not one")
            if status == "error":
                message = json.loads(row["feedback"] or "{}").get("message", "")
                if not message:
                    violations.append(f"submission {sid}: error without a message")
            elif status != info["expected"]:
                violations.append(f"submission {sid}: {status}, the code earns {info['expected']}")
            streamed = journal["streamed"].get(str(info["user_id"]), {}).get(str(sid))
            if streamed != status:
                violations.append(f"submission {sid}: its stream's last state is {streamed}")

        attempt_violations, attempt_counts = check_attempts(
            attempts, stored, finals, journal["streamed"]
        )
        violations.extend(attempt_violations)

        students = {
            row["email"]: row["id"]
            for row in await connection.fetch(
                "SELECT id, email FROM users WHERE email = ANY($1::text[])", journal["students"]
            )
        }
        upload_outcomes: dict[str, int] = {}
        for upload_id_text, info in journal["uploads"].items():
            upload_id = int(upload_id_text)
            upload = await connection.fetchrow(
                "SELECT status, message FROM grade_uploads WHERE id = $1", upload_id
            )
            if upload is None:
                violations.append(f"upload {upload_id}: accepted (202) but not in the database")
                continue
            status = upload["status"]
            upload_outcomes[status] = upload_outcomes.get(status, 0) + 1
            grades = {
                row["user_id"]: row["value"]
                for row in await connection.fetch(
                    "SELECT user_id, value FROM grades WHERE course_id = $1 AND assessment = $2",
                    journal["course_id"],
                    info["assessment"],
                )
            }
            # A cell's history: grade_changes rows, and the kept rows of applied uploads.
            history = await connection.fetch(
                "SELECT user_id, old_value, new_value, upload_id FROM grade_changes"
                " WHERE course_id = $1 AND assessment = $2"
                " UNION ALL SELECT r.user_id, r.old_value, r.value, r.upload_id"
                " FROM grade_upload_rows r JOIN grade_uploads u ON u.id = r.upload_id"
                " WHERE u.course_id = $1 AND r.assessment = $2 AND u.history_seq IS NOT NULL",
                journal["course_id"],
                info["assessment"],
            )
            wanted = {students[email]: value for email, value in info["grades"].items()}
            if status == "applied":
                if grades != wanted:
                    violations.append(f"upload {upload_id}: applied, grades differ from the file")
                if sorted(
                    (h["user_id"], h["new_value"], h["upload_id"]) for h in history
                ) != sorted((user, value, upload_id) for user, value in wanted.items()) or any(
                    h["old_value"] is not None for h in history
                ):
                    violations.append(f"upload {upload_id}: applied, history differs from the file")
            elif status in UPLOAD_FINAL:
                if grades or history:
                    violations.append(
                        f"upload {upload_id}: {status} yet {len(grades)} grades,"
                        f" {len(history)} history rows"
                    )
                if not upload["message"]:
                    violations.append(f"upload {upload_id}: {status} without a message")
            else:
                violations.append(f"upload {upload_id}: still {status} after the drain")
    finally:
        await connection.close()

    statuses: dict[str, int] = {}
    explained: dict[str, int] = {}
    for request in journal["requests"]:
        key = str(request["status"])
        statuses[key] = statuses.get(key, 0) + 1
        status = request["status"]
        if isinstance(status, int) and status >= 500:
            error = str(request.get("error", ""))
            fault = allowed_5xx(status, error, request["t"], windows, float(args["grace_s"]))
            path = request["path"].split("?")[0].rstrip("0123456789")
            during = during_fault(request["t"], windows, float(args["grace_s"]))
            what = f"{status} {request.get('error', '')} {request['method']} {path} during {during}"
            explained[what] = explained.get(what, 0) + 1
            if not fault:
                violations.append(
                    f"{status} not explained by a fault: {request['method']} {request['path']}"
                    f" at {time.strftime('%H:%M:%S', time.gmtime(request['t']))}"
                )
    return {
        "requests": len(journal["requests"]),
        "statuses": statuses,
        "server_errors": explained,
        "submissions_checked": len(journal["submissions"]),
        "submission_outcomes": outcomes,
        "submit_attempts": attempt_counts,
        "uploads_checked": len(journal["uploads"]),
        "upload_outcomes": upload_outcomes,
        "sse_reconnects": journal["reconnects"],
        "violations": violations,
    }


async def sample(args: dict[str, Any]) -> dict[str, Any]:
    """For the soak: connections to PostgreSQL, and jobs waiting in each queue."""
    import aio_pika

    from gradeflow.grading.messages import QUEUES

    connection = await asyncpg.connect(
        args["database_url"].replace("postgresql+asyncpg://", "postgresql://"), timeout=20
    )
    try:
        backends = int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            )
        )
    finally:
        await connection.close()
    depth: dict[str, int | None] = {}
    broker = await aio_pika.connect(args["broker_url"], timeout=20)
    try:
        for queue in QUEUES:
            channel = await broker.channel()
            try:
                declared = await channel.declare_queue(f"gradeflow.{queue}", passive=True)
                depth[queue] = declared.declaration_result.message_count
            except aio_pika.exceptions.AMQPError:
                depth[queue] = None  # not declared yet
    finally:
        await broker.close()
    return {"db_connections": backends, "queue_depth": depth}


def main() -> int:
    args = json.loads(os.environ["CHAOS_ARGS"])
    journal_path = Path(args["journal"])
    report: dict[str, Any]
    # Any failure becomes the report's error: the orchestrator prints it and tears down.
    try:
        if sys.argv[1] == "load":
            report, journal = asyncio.run(Load(args).run())
            journal_path.write_text(json.dumps(journal))
        elif sys.argv[1] == "sample":
            report = asyncio.run(sample(args))
        else:
            journal = json.loads(journal_path.read_text())
            lines = Path(args["faults"]).read_text().splitlines()
            report = asyncio.run(check(args, journal, [json.loads(line) for line in lines]))
    except Exception as exc:
        report = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(report), flush=True)
    return 0 if "error" not in report else 1


if __name__ == "__main__":
    sys.exit(main())
