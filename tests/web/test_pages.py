"""Server-rendered pages: identity cookie, next assignment, safe handouts."""

from __future__ import annotations

import httpx

from tests.conftest import wait_for_final
from tests.factories import ADDER_SOLUTION


async def test_the_home_page_creates_an_identity_and_shows_the_first_assignment(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "gradeflow_session" in response.cookies
    html = response.text
    assert "Add two numbers" in html
    assert 'id="code"' in html
    assert "def add(a, b):" in html
    assert 'id="points">0</span> points' in html
    me = (await client.get("/api/me")).json()
    assert f'id="user-id">{me["id"]}</span>' in html


async def test_reopening_the_site_shows_the_first_unfinished_assignment_and_points(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/", headers={"Accept": "text/html"})
    first = (await client.get("/api/assignments/next")).json()
    accepted = await client.post(
        f"/api/assignments/{first['id']}/submissions", json={"code": ADDER_SOLUTION}
    )
    await wait_for_final(client, accepted.json()["id"])
    html = (await client.get("/", headers={"Accept": "text/html"})).text
    assert '<h1 id="assignment-title">Greet</h1>' in html
    assert 'id="points">10</span> points' in html


async def test_unknown_pages_get_an_html_error_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/assignments/424242", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "No such assignment." in response.text


async def test_the_submissions_page_lists_own_submissions(client: httpx.AsyncClient) -> None:
    await client.get("/", headers={"Accept": "text/html"})
    first = (await client.get("/api/assignments/next")).json()
    accepted = await client.post(
        f"/api/assignments/{first['id']}/submissions", json={"code": ADDER_SOLUTION}
    )
    await wait_for_final(client, accepted.json()["id"])
    html = (await client.get("/submissions", headers={"Accept": "text/html"})).text
    assert f'data-submission-id="{accepted.json()["id"]}"' in html
    assert "passed" in html


async def test_a_cached_practice_page_follows_each_change_of_the_student_and_the_course(
    client: httpx.AsyncClient,
) -> None:
    first_look = (await client.get("/", headers={"Accept": "text/html"})).text
    assert 'data-pending-id=""' in first_look
    again = (await client.get("/", headers={"Accept": "text/html"})).text
    assert again == first_look  # the same page, from the cache
    first = (await client.get("/api/assignments/next")).json()
    accepted = await client.post(
        f"/api/assignments/{first['id']}/submissions", json={"code": ADDER_SOLUTION}
    )
    submitted = (await client.get("/", headers={"Accept": "text/html"})).text
    await wait_for_final(client, accepted.json()["id"])
    # Still pending when asked, or already graded: never the page from before.
    assert submitted != first_look
    after = (await client.get("/", headers={"Accept": "text/html"})).text
    assert 'data-pending-id=""' in after
    assert 'id="points">10</span> points' in after
