"""HTML pages: the practice page's shell, the submissions page and error pages.

The practice page is one shell, the same bytes for everyone, that ``static/app.js``
fills from ``/api/practice``; the others are rendered on the server. All of them are
kept live by app.js over ``/api/events``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from gradeflow.accounts.identity import Caller, cached_caller, caller_for_user
from gradeflow.accounts.security import SESSION_COOKIE
from gradeflow.courses.service import list_assignments
from gradeflow.deps import DbSession, Visitor, page_to_return_to
from gradeflow.events.service import latest_event_id
from gradeflow.grading import service as grading

log = structlog.get_logger(__name__)
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
STATIC_DIR = Path(__file__).parent / "static"


@functools.cache
def static_url(name: str) -> str:
    """``/static/<name>`` marked with a digest of the file, so a new release's files are
    fetched at once despite their cache lifetime; a file that is not there (the editor
    bundle before ``make install``) keeps its plain URL."""
    try:
        digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    except OSError:
        return f"/static/{name}"
    return f"/static/{name}?v={digest}"


templates.env.globals["static_url"] = static_url


def render(name: str, context: dict[str, Any]) -> str:
    """A page as text: FastAPI wraps it, adding the visitor's new cookie if there is one."""
    return templates.get_template(name).render(context)


# The practice page's routes: one shell for all of them (nginx serves the same file
# from disk in the stack, see ``gradeflow.stack``); app.js reads the path.
PRACTICE_PATHS = ("/", "/courses/{course_id:int}/practice", "/assignments/{assignment_id:int}")


@functools.cache
def practice_shell() -> bytes:
    """The practice page as it is before app.js fills it from ``/api/practice``:
    nothing in it is personal, so every visitor gets these same bytes."""
    return render("practice.html", {}).encode()


@functools.cache
def _practice_shell_etag() -> str:
    return '"' + hashlib.sha256(practice_shell()).hexdigest()[:32] + '"'


async def practice_page(request: Request) -> Response:
    # The browser keeps the shell and asks again each time (no-cache): a new
    # release's shell is seen at once, an unchanged one costs a 304.
    headers = {"ETag": _practice_shell_etag(), "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return HTMLResponse(practice_shell(), headers=headers)


# What nginx answers (503) when no web process could answer: the API's error shape for
# ``/api/...``, the friendly error page for pages (``gradeflow.stack``).
UNAVAILABLE_MESSAGE = "gradeflow is restarting; try again in a moment."


def unavailable_page() -> bytes:
    return render("error.html", {"status": 503, "message": UNAVAILABLE_MESSAGE}).encode()


def unavailable_body() -> bytes:
    error = {"code": "unavailable", "message": UNAVAILABLE_MESSAGE, "details": None}
    return json.dumps({"error": error}).encode()


def write_static_pages(directory: Path) -> list[Path]:
    """Write the pages nginx serves from disk (``practice.html``, the shell, and the
    503 answers) into ``directory``; each replaced whole, so nginx never serves half
    a file."""
    directory.mkdir(parents=True, exist_ok=True)
    contents = {
        "practice.html": practice_shell(),
        "unavailable.html": unavailable_page(),
        "unavailable.json": unavailable_body(),
    }
    written = []
    for name, content in contents.items():
        target = directory / name
        partial = target.with_name(name + ".partial")
        partial.write_bytes(content)
        partial.replace(target)
        written.append(target)
    return written


for _path in PRACTICE_PATHS:
    router.add_api_route(_path, practice_page, methods=["GET"])


# The newest submissions ``/submissions`` lists (the API pages with ``limit``).
SUBMISSIONS_SHOWN = 200


@router.get("/submissions")
async def submissions_page(session: DbSession, user: Visitor) -> str:
    # The stream's starting point before the rows: an event committed between the two
    # reads is then replayed by the page's stream (which it applies idempotently),
    # never skipped.
    last_event_id = await latest_event_id(session, user_id=user.id)
    # One more than shown: whether there are older ones to say so (was silent).
    rows = await grading.list_submissions(session, user_id=user.id, limit=SUBMISSIONS_SHOWN + 1)
    titles = {a.id: a.title for a in await list_assignments(session)}
    return render(
        "submissions.html",
        {
            "user": user,
            "points": await grading.total_points(session, user_id=user.id),
            "last_event_id": last_event_id,
            "submissions": [grading.describe_submission(s) for s in rows[:SUBMISSIONS_SHOWN]],
            "older_not_shown": len(rows) > SUBMISSIONS_SHOWN,
            "shown": SUBMISSIONS_SHOWN,
            "titles": titles,
        },
    )


async def error_page(
    request: Request, *, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The error page, its top bar showing who is signed in as every other page does,
    and for a refused form post a link back to the page that held the form."""
    back = page_to_return_to(request) if request.method != "GET" else "/"
    return templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "message": message,
            "user": await _signed_in_caller(request, status=status),
            "back": back if back != "/" else None,
        },
        status_code=status,
        headers=headers,
    )


async def _signed_in_caller(request: Request, *, status: int) -> Caller | None:
    """The session cookie's user for an error page's top bar, or None if it cannot be
    told. Usually cached (the request's own dependencies have just looked it up); a
    server error's page asks only the cache, since the database may be what failed."""
    runtime = getattr(request.app.state, "runtime", None)
    cookie = request.cookies.get(SESSION_COOKIE)
    user_id = runtime.signer.loads(cookie) if runtime is not None and cookie else None
    if runtime is None or user_id is None:
        return None
    if status >= 500:
        return cached_caller(runtime.cache, user_id)
    try:
        return await caller_for_user(runtime.session_factory, runtime.cache, user_id)
    except Exception as exc:
        # The page says what went wrong with the request; the top bar must not stop it
        # (an error page renders even when the database is down).
        log.warning("error_page.caller_unknown", user_id=user_id, error=repr(exc))
        return None
