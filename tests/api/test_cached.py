"""Cached reads answered before routing (``api/cached.py``): the same answer as the
route's, only for what the route would answer the same, and purged as before."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Message, Receive, Scope, Send

from gradeflow.api.cached import BY_PATH, BY_PREFIX, CachedReads, _read_of
from gradeflow.app import endpoint_routes
from gradeflow.db import MAX_ID
from tests.api.test_accounts import sign_in
from tests.conftest import new_student, wait_for_final
from tests.factories import ADDER_SOLUTION, create_account


def comparable(response: httpx.Response) -> list[tuple[str, str]]:
    """The response's headers but its request id (new for every request)."""
    return [(k, v) for k, v in response.headers.multi_items() if k != "x-request-id"]


async def graded_student(client: httpx.AsyncClient) -> tuple[int, int, int]:
    """A new student with one passed submission: the assignment, course and submission ids."""
    await new_student(client)
    assignment = (await client.get("/api/assignments/next")).json()
    posted = await client.post(
        f"/api/assignments/{assignment['id']}/submissions", json={"code": ADDER_SOLUTION}
    )
    assert posted.status_code == 202, posted.text
    assert (await wait_for_final(client, posted.json()["id"]))["status"] == "passed"
    return assignment["id"], assignment["course"]["id"], posted.json()["id"]


class Probe:
    """The app behind the layer, noting the requests that reach it."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.reached: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.reached.append(scope["path"])
        await self.app(scope, receive, send)


async def through_layer(app: FastAPI, path: str, query: str, cookie: str) -> tuple[bool, bytes]:
    """GET ``path`` through ``CachedReads`` alone: whether the app was reached, and the body."""
    probe = Probe(app)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "app": app,
    }
    await CachedReads(probe)(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return bool(probe.reached), body


async def test_a_hit_is_the_same_answer_as_the_routes_own(client: httpx.AsyncClient) -> None:
    assignment_id, course_id, submission_id = await graded_student(client)
    paths = [
        "/api/me",
        "/api/practice",
        f"/api/practice?assignment={assignment_id}",
        f"/api/practice?course={course_id}",
        "/api/assignments",
        f"/api/assignments?course={course_id}",
        "/api/assignments/next",
        f"/api/assignments/{assignment_id}",
        "/api/submissions",
        f"/api/submissions?assignment_id={assignment_id}&limit=5",
        f"/api/submissions/{submission_id}",
    ]
    for path in paths:
        routed = await client.get(path)  # a miss: the route builds and keeps it
        hit = await client.get(path)
        assert routed.status_code == hit.status_code == 200, (path, routed.text)
        assert hit.content == routed.content, path
        assert comparable(hit) == comparable(routed), path
        assert hit.headers["x-request-id"] != routed.headers["x-request-id"]


async def test_a_hit_never_reaches_the_app_and_a_miss_does(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    assignment_id, _, _ = await graded_student(client)
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    path = f"/api/assignments/{assignment_id}"
    reached, _ = await through_layer(app, path, "", cookie)
    assert reached  # nothing kept yet
    reached, body = await through_layer(app, path, "", cookie)
    assert not reached
    assert body == (await client.get(path)).content
    # Another student's cookie, or none, finds nothing of this one's.
    reached, _ = await through_layer(app, path, "", "")
    assert reached
    stranger = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=str(client.base_url)
    )
    async with stranger:
        await new_student(stranger)
        other = "; ".join(f"{name}={value}" for name, value in stranger.cookies.items())
        reached, body = await through_layer(app, path, "", other)
    assert reached


async def test_a_hit_echoes_the_request_id_and_counts_in_the_metrics(
    client: httpx.AsyncClient,
) -> None:
    await new_student(client)
    await client.get("/api/me")
    hit = await client.get("/api/me", headers={"X-Request-ID": "trace-42"})
    assert hit.headers["x-request-id"] == "trace-42"
    metrics = (await client.get("/metrics")).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("gradeflow_http_request_seconds_count")
        and 'route="/api/me"' in line
        and 'status="200"' in line
    )
    assert float(line.split()[-1]) == 2.0


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/assignments", "course=0"),  # out of bounds: the route's 422
        ("/api/assignments", f"course={MAX_ID + 1}"),
        ("/api/assignments", "course=07"),  # another spelling: the route parses it
        ("/api/assignments", "course=%37"),
        ("/api/assignments", "course=7&course=7"),
        ("/api/assignments", "course="),
        ("/api/assignments", "other=1"),
        ("/api/submissions", "limit=501"),
        ("/api/assignments/007", ""),
        ("/api/assignments/0", ""),
        ("/api/assignments/7", "x=1"),
        ("/api/assignments/7/submissions", ""),
        ("/api/me/", ""),
        ("/api/tokens", ""),
    ],
)
def test_the_layer_leaves_every_query_it_does_not_read_plainly_to_the_route(
    path: str, query: str
) -> None:
    assert _read_of(path, query.encode()) is None


def key_read(path: str, query: bytes) -> str | None:
    found = _read_of(path, query)
    return None if found is None else found[0].key_of(**found[1])


def test_the_layer_reads_queries_as_the_route_does() -> None:
    assert key_read("/api/submissions", b"assignment_id=3&limit=500") == "submissions:3:500"
    assert key_read("/api/submissions", b"") == "submissions:None:100"
    assert key_read(f"/api/assignments/{MAX_ID}", b"") == f"assignment:{MAX_ID}"
    assert key_read("/api/practice", b"course=4") == "practice:None:4"


async def test_queries_the_layer_leaves_alone_still_get_the_routes_answer(
    client: httpx.AsyncClient,
) -> None:
    _, course_id, _ = await graded_student(client)
    plain = await client.get(f"/api/assignments?course={course_id}")
    await client.get(f"/api/assignments?course={course_id}")
    assert (await client.get(f"/api/assignments?course=0{course_id}")).content == plain.content
    assert (await client.get("/api/assignments?course=0")).status_code == 422
    assert (await client.get("/api/submissions?limit=501")).status_code == 422
    both = await client.get(f"/api/practice?assignment=1&course={course_id}")
    assert both.status_code == 422


async def test_a_hit_follows_the_purge_of_a_new_submission(client: httpx.AsyncClient) -> None:
    assignment_id, _, first = await graded_student(client)
    await client.get("/api/submissions")
    before = (await client.get("/api/submissions")).json()["items"]
    assert [item["id"] for item in before] == [first]
    posted = await client.post(
        f"/api/assignments/{assignment_id}/submissions", json={"code": ADDER_SOLUTION + "\n"}
    )
    assert posted.status_code == 202, posted.text
    after = (await client.get("/api/submissions")).json()["items"]
    assert [item["id"] for item in after] == [posted.json()["id"], first]
    await wait_for_final(client, posted.json()["id"])


async def test_an_anonymous_callers_grades_stay_the_routes_refusal(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await new_student(client)
    for _ in range(2):
        assert (await client.get("/api/me/grades")).status_code == 403
    await create_account(session_factory, "ada@example.org")
    assert (await sign_in(client, "ada@example.org")).status_code == 200
    routed = await client.get("/api/me/grades")
    hit = await client.get("/api/me/grades")
    assert routed.status_code == hit.status_code == 200
    assert hit.content == routed.content


def test_every_cached_read_is_a_get_route_of_the_app(app: FastAPI) -> None:
    get_routes = {
        route.path_format for route in endpoint_routes(app.routes) if "GET" in (route.methods or ())
    }
    reads = [*BY_PATH.values(), *(read for _, read in BY_PREFIX)]
    assert {read.route for read in reads} <= get_routes
    for prefix, read in BY_PREFIX:
        assert read.route.startswith(prefix)
