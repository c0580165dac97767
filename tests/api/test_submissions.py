"""The student loop over HTTP, with the real grader slots and sandbox."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.events.service import events_after
from tests.conftest import new_student, wait_for_final
from tests.factories import ADDER_SOLUTION, ADDER_WRONG


async def first_assignment(client: httpx.AsyncClient) -> dict:
    response = await client.get("/api/assignments/next")
    assert response.status_code == 200, response.text
    return response.json()


async def submit(client: httpx.AsyncClient, assignment_id: int, code: str) -> httpx.Response:
    return await client.post(f"/api/assignments/{assignment_id}/submissions", json={"code": code})


async def count_submissions(client: httpx.AsyncClient) -> int:
    return len((await client.get("/api/submissions")).json()["items"])


async def test_api_needs_a_session_and_answers_in_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/assignments")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert "POST /api/session" in error["message"]


async def test_a_wrong_answer_fails_with_per_test_feedback_then_a_fix_passes(
    client: httpx.AsyncClient,
) -> None:
    me = await new_student(client)
    assert me["points"] == 0
    assignment = await first_assignment(client)
    assert assignment["title"] == "Add two numbers"
    assert "<h1>Add</h1>" in assignment["handout_html"]

    response = await submit(client, assignment["id"], ADDER_WRONG)
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    failed = await wait_for_final(client, response.json()["id"])
    assert failed["status"] == "failed"
    tests = {t["id"]: t for t in failed["feedback"]["tests"]}
    assert tests["AddTest.test_adds_two_numbers"]["outcome"] == "failed"
    assert "2 + 3 should be 5" in tests["AddTest.test_adds_two_numbers"]["message"]
    # The judge's own account of the comparison, for expected and actual side by side.
    assert tests["AddTest.test_adds_two_numbers"] | {"message": ""} == {
        "id": "AddTest.test_adds_two_numbers",
        "outcome": "failed",
        "message": "",
        "description": "",
        "expected": "5",
        "actual": "-1",
        "note": "2 + 3 should be 5",
        "line": None,
        "output": "",
    }
    detail = (await client.get(f"/api/submissions/{failed['id']}")).json()
    assert detail["feedback"]["tests"][1]["expected"] == "-5"
    assert failed["score"] == 0.0  # proportional, and both tests fail

    response = await submit(client, assignment["id"], ADDER_SOLUTION)
    passed = await wait_for_final(client, response.json()["id"])
    assert passed["status"] == "passed"
    assert passed["score"] == 10.0
    assert (await client.get("/api/me")).json()["points"] == 10.0
    nxt = await first_assignment(client)
    assert nxt["title"] == "Greet"
    listed = (await client.get("/api/assignments")).json()["items"]
    assert [(a["title"], a["completed"]) for a in listed] == [
        ("Add two numbers", True),
        ("Greet", False),
    ]


async def test_a_second_submit_while_one_is_pending_gets_409(client: httpx.AsyncClient) -> None:
    await new_student(client)
    assignment = await first_assignment(client)
    slow = "import time\ntime.sleep(2)\n" + ADDER_SOLUTION
    first = await submit(client, assignment["id"], slow)
    assert first.status_code == 202
    second = await submit(client, assignment["id"], ADDER_WRONG)
    assert second.status_code == 409
    assert second.json()["error"]["details"] == {"submission_id": first.json()["id"]}
    await wait_for_final(client, first.json()["id"])
    assert await count_submissions(client) == 1


async def test_identical_code_is_not_graded_twice(client: httpx.AsyncClient) -> None:
    await new_student(client)
    assignment = await first_assignment(client)
    first = await wait_for_final(
        client, (await submit(client, assignment["id"], ADDER_WRONG)).json()["id"]
    )
    again = await submit(client, assignment["id"], ADDER_WRONG)
    assert again.status_code == 202
    body = again.json()
    assert body["status"] == "failed"
    assert body["reused"] is True
    assert body["feedback"] == first["feedback"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'{"code": "' + b"x" * (64 * 1024 + 1) + b'"}', "application/json", 413, "too_large"),
        (b"x" * (400 * 1024), "application/json", 413, "too_large"),
        (b'{"code": "print(\xff)"}', "application/json", 422, "invalid"),
        (b"print(\xff\xfe)", "text/plain", 422, "invalid"),
        (b'{"code": ""}', "application/json", 422, "invalid"),
        (b'{"code": "\\u0000"}', "application/json", 422, "invalid"),
        (b'{"code": "\\ud800"}', "application/json", 422, "invalid"),
        (b'{"code": 5}', "application/json", 422, "invalid"),
        (b"{not json", "application/json", 422, "invalid"),
        (b"[" * 5000, "application/json", 422, "invalid"),  # deeper than json's recursion
        (b"code=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
async def test_bad_submissions_get_a_clear_error_and_change_nothing(
    client: httpx.AsyncClient, content: bytes, content_type: str, status: int, code: str
) -> None:
    await new_student(client)
    assignment = await first_assignment(client)
    response = await client.post(
        f"/api/assignments/{assignment['id']}/submissions",
        content=content,
        headers={"Content-Type": content_type},
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert await count_submissions(client) == 0


async def test_plain_text_code_is_accepted(client: httpx.AsyncClient) -> None:
    await new_student(client)
    assignment = await first_assignment(client)
    response = await client.post(
        f"/api/assignments/{assignment['id']}/submissions",
        content=ADDER_SOLUTION.encode(),
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    assert response.status_code == 202
    assert (await wait_for_final(client, response.json()["id"]))["status"] == "passed"


async def test_unknown_assignments_and_other_peoples_submissions_are_404(
    client: httpx.AsyncClient,
) -> None:
    await new_student(client)
    assert (await submit(client, 999_999, ADDER_SOLUTION)).status_code == 404
    assignment = await first_assignment(client)
    mine = (await submit(client, assignment["id"], ADDER_WRONG)).json()
    await wait_for_final(client, mine["id"])
    client.cookies.clear()
    await new_student(client)
    response = await client.get(f"/api/submissions/{mine['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert (await client.delete(f"/api/submissions/{mine['id']}")).status_code == 404


async def test_a_finished_submission_can_be_deleted(client: httpx.AsyncClient) -> None:
    await new_student(client)
    assignment = await first_assignment(client)
    mine = (await submit(client, assignment["id"], ADDER_WRONG)).json()
    await wait_for_final(client, mine["id"])
    # Read (and cached) first: the deletion must show at once all the same.
    assert await count_submissions(client) == 1
    assert (await client.get(f"/api/submissions/{mine['id']}")).status_code == 200
    assert (await client.delete(f"/api/submissions/{mine['id']}")).status_code == 204
    assert await count_submissions(client) == 0
    assert (await client.get(f"/api/submissions/{mine['id']}")).status_code == 404


async def test_a_deletion_is_an_event_for_the_students_other_tabs(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    me = await new_student(client)
    assignment = await first_assignment(client)
    mine = (await submit(client, assignment["id"], ADDER_SOLUTION)).json()
    await wait_for_final(client, mine["id"])
    assert (await client.delete(f"/api/submissions/{mine['id']}")).status_code == 204
    async with session_factory() as session:
        events = await events_after(session, user_id=int(me["id"]), after_id=0)
    assert events[-1].type == "submission_deleted"
    assert events[-1].payload == {"submission_id": mine["id"], "points": 0}


async def test_a_forged_cookie_is_not_a_session(client: httpx.AsyncClient) -> None:
    client.cookies.set("gradeflow_session", "eyJ1aWQiOjF9.forged.signature")
    assert (await client.get("/api/me")).status_code == 401


async def test_registering_claims_the_anonymous_work_and_login_restores_it(
    client: httpx.AsyncClient,
) -> None:
    me = await new_student(client)
    assignment = await first_assignment(client)
    await wait_for_final(
        client, (await submit(client, assignment["id"], ADDER_SOLUTION)).json()["id"]
    )
    registered = await client.post(
        "/api/auth/register", json={"email": "Ada@Example.org", "password": "correct horse"}
    )
    assert registered.status_code == 201
    assert registered.json()["id"] == me["id"]
    assert registered.json()["email"] == "ada@example.org"
    assert (await client.post("/api/auth/logout")).status_code == 204
    client.cookies.clear()
    assert (await client.get("/api/me")).status_code == 401
    bad = await client.post(
        "/api/auth/login", json={"email": "ada@example.org", "password": "wrong one"}
    )
    assert bad.status_code == 401
    good = await client.post(
        "/api/auth/login", json={"email": "ada@example.org", "password": "correct horse"}
    )
    assert good.status_code == 200
    assert (await client.get("/api/me")).json() == good.json() | {"points": 10.0}
    again = await client.post(
        "/api/auth/register", json={"email": "ada@example.org", "password": "x" * 8}
    )
    assert again.status_code == 409


async def test_register_validates_its_input(client: httpx.AsyncClient) -> None:
    short = await client.post("/api/auth/register", json={"email": "a@b.org", "password": "short"})
    assert short.status_code == 422
    assert "8 characters" in short.json()["error"]["message"]
    missing = await client.post("/api/auth/register", json={"email": "a@b.org"})
    assert missing.status_code == 422
    assert missing.json()["error"]["message"] == "password: Field required"


async def test_openapi_describes_the_api(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    for path in [
        "/api/session",
        "/api/me",
        "/api/assignments",
        "/api/assignments/next",
        "/api/assignments/{assignment_id}/submissions",
        "/api/submissions/{submission_id}",
        "/api/events",
    ]:
        assert path in spec["paths"], path


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


async def test_unknown_routes_answer_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
