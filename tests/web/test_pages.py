"""The practice page: one shell for everyone, and its state in one call."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gradeflow.accounts.models import Role, User
from gradeflow.courses import members
from gradeflow.db import create_engine, create_session_factory, transaction
from gradeflow.runtime import Runtime
from gradeflow.web import pages
from gradeflow.web.pages import STATIC_DIR, render, static_url
from tests.conftest import STARTING_EVENT_ID, read_before, recorded_statements, wait_for_final
from tests.factories import ADDER_SOLUTION, PASSWORD, create_account

HTML = {"Accept": "text/html"}


async def test_the_practice_shell_is_the_same_for_everyone_and_revalidates(
    client: httpx.AsyncClient,
) -> None:
    shell = await client.get("/", headers=HTML)
    assert shell.status_code == 200
    assert shell.headers["cache-control"] == "no-cache"
    assert "gradeflow_session" not in shell.cookies  # a page costs no identity
    assert 'id="practice-shell"' in shell.text
    assert 'id="code"' in shell.text
    await client.get("/api/practice")  # now somebody, with points and a list
    for path in ("/", "/courses/1/practice", "/assignments/1", "/assignments/424242"):
        again = await client.get(path, headers=HTML)
        assert again.content == shell.content, path
    unchanged = await client.get("/", headers={"If-None-Match": shell.headers["etag"]})
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert (await client.get("/assignments/abc", headers=HTML)).status_code == 404


async def test_the_first_state_call_creates_an_identity_and_gives_the_first_assignment(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/practice")
    assert response.status_code == 200, response.text
    assert "gradeflow_session" in response.cookies
    state = response.json()
    me = (await client.get("/api/me")).json()
    assert state["user"]["id"] == me["id"]
    assert state["user"]["anonymous"]
    assert state["user"]["points"] == 0
    assert state["assignment"]["title"] == "Add two numbers"
    assert state["code"] == state["assignment"]["starter"]
    assert "def add(a, b):" in state["code"]
    assert state["latest"] is None
    assert state["pending_id"] is None
    assert [item["completed"] for item in state["assignments"]] == [False] * len(
        state["assignments"]
    )
    assert state["max_code_bytes"] > 0


async def test_reopening_the_site_shows_the_first_unfinished_assignment_and_points(
    client: httpx.AsyncClient,
) -> None:
    first = (await client.get("/api/practice")).json()["assignment"]
    accepted = await client.post(
        f"/api/assignments/{first['id']}/submissions", json={"code": ADDER_SOLUTION}
    )
    await wait_for_final(client, accepted.json()["id"])
    state = (await client.get("/api/practice")).json()
    assert state["assignment"]["title"] == "Greet"
    assert state["user"]["points"] == 10
    assert state["assignments"][0] == state["assignments"][0] | {
        "id": first["id"],
        "completed": True,
    }
    # The finished one, opened again, comes with the student's own code and result.
    again = (await client.get(f"/api/practice?assignment={first['id']}")).json()
    assert again["code"] == ADDER_SOLUTION
    assert again["latest"]["status"] == "passed"


async def test_unknown_assignments_and_ambiguous_asks_get_clear_errors(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/api/practice?assignment=424242")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No such assignment."
    both = await client.get("/api/practice?assignment=1&course=1")
    assert both.status_code == 422
    assert "not both" in both.json()["error"]["message"]


async def test_the_submissions_page_lists_own_submissions(client: httpx.AsyncClient) -> None:
    first = (await client.get("/api/practice")).json()["assignment"]
    accepted = await client.post(
        f"/api/assignments/{first['id']}/submissions", json={"code": ADDER_SOLUTION}
    )
    await wait_for_final(client, accepted.json()["id"])
    with recorded_statements() as statements:
        html = (await client.get("/submissions", headers=HTML)).text
    assert read_before(statements, STARTING_EVENT_ID, "FROM submissions")
    assert f'data-submission-id="{accepted.json()["id"]}"' in html
    assert "passed" in html


async def test_a_cached_state_follows_each_change_of_the_student_and_the_course(
    client: httpx.AsyncClient,
) -> None:
    first_look = (await client.get("/api/practice")).content
    assert b'"pending_id":null' in first_look
    again = (await client.get("/api/practice")).content
    assert again == first_look  # the same answer, from the cache
    first = (await client.get("/api/assignments/next")).json()
    accepted = await client.post(
        f"/api/assignments/{first['id']}/submissions", json={"code": ADDER_SOLUTION}
    )
    submitted = (await client.get("/api/practice")).content
    await wait_for_final(client, accepted.json()["id"])
    # Still pending when asked, or already graded: never the answer from before.
    assert submitted != first_look
    after = (await client.get("/api/practice")).json()
    assert after["pending_id"] is None
    assert after["user"]["points"] == 10


async def test_the_shell_names_static_files_by_their_content(client: httpx.AsyncClient) -> None:
    shell = (await client.get("/")).text
    app_js = hashlib.sha256((STATIC_DIR / "app.js").read_bytes()).hexdigest()[:12]
    assert f'src="/static/app.js?v={app_js}"' in shell
    # The editor's bundle first, so app.js finds it; served like any static file.
    assert shell.index("/static/build/editor.js") < shell.index("/static/app.js")
    assert static_url("no-such-file.js") == "/static/no-such-file.js"
    bundle = static_url("build/editor.js")
    if "?v=" in bundle:  # built by `make install`
        served = await client.get(bundle)
        assert served.status_code == 200
        assert "javascript" in served.headers["content-type"]


async def test_the_submissions_page_says_when_older_ones_are_not_listed(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "SUBMISSIONS_SHOWN", 2)
    first = (await client.get("/api/practice")).json()["assignment"]
    for number in range(3):
        accepted = await client.post(
            f"/api/assignments/{first['id']}/submissions",
            json={"code": f"{ADDER_SOLUTION}# {number}\n"},
        )
        await wait_for_final(client, accepted.json()["id"])
        html = (await client.get("/submissions", headers=HTML)).text
        assert html.count("data-submission-id=") == min(number + 1, 2)
        assert ("older ones are kept but not listed" in html) is (number == 2)


async def test_a_page_address_with_an_id_beyond_any_rows_is_no_such_assignment(
    client: httpx.AsyncClient,
) -> None:
    # /assignments/99999999999999999999 asks this: the page showed pydantic's
    # "Input should be less than or equal to 2147483647".
    for query, message in [("assignment", "No such assignment."), ("course", "No such course.")]:
        answer = await client.get(f"/api/practice?{query}=99999999999999999999")
        assert answer.status_code == 404
        assert answer.json()["error"]["message"] == message


async def test_a_browser_gets_a_friendly_html_error_page_and_a_script_gets_json(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/no-such-page", headers=HTML)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in page.text
    assert "Back to practice" in page.text
    script = await client.get("/no-such-page")
    assert script.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("status", "heading"), [(500, "Something went wrong"), (503, "Back in a moment")]
)
def test_server_errors_read_as_such_and_say_the_work_is_safe(status: int, heading: str) -> None:
    html = render("error.html", {"status": status, "message": "The database is unavailable."})
    assert f"<h1>{heading}</h1>" in html
    assert "your work is safe" in html
    assert f"Error {status}" in html


SIGN_IN_LINK = '<a href="/sign-in">Sign in</a>'


async def test_an_error_page_shows_who_is_signed_in(
    client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    teacher_id = await create_account(session_factory, "t@example.org", role=Role.teacher)
    await create_account(session_factory, "s@example.org")
    async with transaction(session_factory) as session:
        teacher = await session.get_one(User, teacher_id)
        course = await members.create_course(session, teacher=teacher, slug="c", title="C")
        await members.enrol_student(session, course, email="s@example.org")
        course_id = course.id
    anonymous = await client.get("/no-such-page", headers=HTML)
    assert SIGN_IN_LINK in anonymous.text

    login = {"email": "s@example.org", "password": PASSWORD}
    assert (await client.post("/api/auth/login", json=login)).status_code == 200
    forbidden = await client.get(f"/courses/{course_id}/gradebook", headers=HTML)
    missing = await client.get("/no-such-page", headers=HTML)
    for page, status in ((forbidden, 403), (missing, 404)):
        assert page.status_code == status
        assert 'data-testid="account-link">s@example.org<' in page.text
        assert 'data-testid="grades-link"' in page.text
        assert SIGN_IN_LINK not in page.text


async def test_an_error_page_renders_when_who_is_signed_in_cannot_be_looked_up(
    app: FastAPI, client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await create_account(session_factory, "s@example.org")
    login = {"email": "s@example.org", "password": PASSWORD}
    assert (await client.post("/api/auth/login", json=login)).status_code == 200
    assert "s@example.org" in (await client.get("/no-such-page", headers=HTML)).text

    runtime: Runtime = app.state.runtime
    working = runtime.session_factory
    unreachable = create_engine("sqlite+aiosqlite:////no-such-directory/gradeflow.db")
    runtime.session_factory = create_session_factory(unreachable)
    try:
        # The caller is known from the cache; the page's own session fails.
        unavailable = await client.get("/courses", headers=HTML)
        runtime.cache.clear()  # now the caller is not known without the database
        page = await client.get("/no-such-page", headers=HTML)
    finally:
        runtime.session_factory = working
        await unreachable.dispose()
    assert unavailable.status_code == 503
    assert "<h1>Back in a moment</h1>" in unavailable.text
    assert 'data-testid="account-link">s@example.org<' in unavailable.text
    assert page.status_code == 404
    assert "<h1>Page not found</h1>" in page.text
    assert SIGN_IN_LINK in page.text  # who it is cannot be told, so nobody is shown
