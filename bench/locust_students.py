"""Locust: the full student scenario, for ``bench/student_scenario.py``.

Each simulated student opens the practice page (the shell from nginx, then its one
personal call, ``/api/practice``, which makes them an anonymous student), then, again
and again: follows ``/api/events`` from the state's last event, submits the
assignment the page offers (its reference solution, with a comment of their own so
no result is reused), waits on the stream for that submission's final result, and
asks for the page's state again, which offers the next assignment.

Besides Locust's rows per request, one custom row, ``submit → result on
/api/events``: from just before the POST to the event with the final status.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from locust import HttpUser, between, task

DEMO = Path(__file__).resolve().parents[1] / "demo" / "python-basics"
FINAL = {"passed", "failed", "error"}
# A result not seen within this long counts as a failure (bounds each wait).
RESULT_TIMEOUT_S = 60.0
LATENCY_ROW = "submit → result on /api/events"


def _solutions() -> dict[str, str]:
    found = {}
    for directory in sorted(p for p in DEMO.iterdir() if (p / "solution.py").exists()):
        code = (directory / "solution.py").read_text()
        found[directory.name] = found[directory.name.split("-", 1)[-1]] = code
    return found


SOLUTIONS = _solutions()


class Student(HttpUser):
    # Reading the result and the next handout, briefly: many students, each busy.
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.client.get("/", name="/ (the page shell, nginx)")
        self.sent = 0
        self.state = self._practice()

    def _practice(self, assignment_id: int | None = None) -> dict[str, Any]:
        params = {"assignment": assignment_id} if assignment_id else None
        response = self.client.get("/api/practice", params=params, name="/api/practice")
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state

    @task
    def submit_and_wait(self) -> None:
        assignment = self.state["assignment"]
        if assignment is None:  # all completed: practise the last one again
            self.state = self._practice(self.state["assignments"][-1]["id"])
            assignment = self.state["assignment"]
        self.sent += 1
        code = f"{SOLUTIONS[assignment['slug']]}\n# {id(self)} {self.sent} {time.time_ns()}\n"
        after = {"last_event_id": self.state["last_event_id"]}
        with self.client.get(
            "/api/events",
            params=after,
            stream=True,
            name="/api/events (stream opened)",
            timeout=RESULT_TIMEOUT_S,
            catch_response=True,
        ) as stream:
            if stream.status_code != 200:
                stream.failure(f"event stream: {stream.status_code}")
                return
            stream.success()
            started = time.perf_counter()
            accepted = self.client.post(
                f"/api/assignments/{assignment['id']}/submissions",
                json={"code": code},
                name="/api/assignments/{id}/submissions",
            )
            if accepted.status_code != 202:
                return
            self._wait_for_result(stream, accepted.json()["id"], started)
        self.state = self._practice()

    def _wait_for_result(self, stream: Any, wanted: int, started: float) -> None:
        error: Exception | None = None
        try:
            for line in stream.iter_lines():  # bounded by the read timeout and the deadline
                if time.perf_counter() - started > RESULT_TIMEOUT_S:
                    error = TimeoutError(f"no result for {wanted}")
                    break
                if not line.startswith(b"data: "):
                    continue
                submission = json.loads(line[6:]).get("submission") or {}
                if submission.get("id") == wanted and submission.get("status") in FINAL:
                    break
            else:
                error = ConnectionError(f"the stream ended before the result of {wanted}")
        except Exception as exc:  # a read timeout: reported as the row's failure
            error = exc
        self.environment.events.request.fire(
            request_type="SSE",
            name=LATENCY_ROW,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )
