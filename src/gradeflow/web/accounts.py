"""Account pages: register, sign in and out, and the account page with API tokens.

Form posts go through ``CheckedForm`` (CSRF) and the same service functions as the
JSON API; a refused form is shown again with the reason and what was typed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from gradeflow.accounts import service, tokens
from gradeflow.accounts.models import Role, User
from gradeflow.accounts.throttle import SignInLimits
from gradeflow.db import savepoint
from gradeflow.deps import (
    AccountHolder,
    AppRuntime,
    DbSession,
    OptionalUser,
    PathId,
    clear_session_cookie,
    client_address,
    require_role,
    set_session_cookie,
)
from gradeflow.errors import GradeflowError
from gradeflow.grading import service as grading
from gradeflow.web.forms import CheckedForm, FormToken, safe_next, text_field
from gradeflow.web.pages import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _page(
    name: str, context: dict[str, Any], *, status: int = 200, error: GradeflowError | None = None
) -> HTMLResponse:
    if error is not None:
        context = context | {"error": error.message}
        status = error.status_code
    headers = dict(error.headers) if error is not None else None
    return HTMLResponse(render(name, context), status_code=status, headers=headers)


def _redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


@router.get("/sign-in")
async def sign_in_page(user: OptionalUser, csrf: FormToken, next: str | None = None) -> str:
    return render("sign_in.html", {"user": user, "csrf": csrf, "next": safe_next(next, "")})


@router.post("/sign-in")
async def sign_in(
    request: Request, runtime: AppRuntime, form: CheckedForm, csrf: FormToken
) -> Response:
    email = text_field(form, "email", max_length=320)
    target = safe_next(text_field(form, "next"), "/account")
    try:
        user_id = await service.sign_in(
            runtime.session_factory,
            email=email,
            password=text_field(form, "password"),
            address=client_address(request),
            limits=SignInLimits.from_settings(runtime.settings),
        )
    except GradeflowError as exc:
        context = {"user": None, "csrf": csrf, "email": email, "next": target}
        return _page("sign_in.html", context, error=exc)
    response = _redirect(target)
    set_session_cookie(request, response, user_id)
    return response


@router.get("/register")
async def register_page(user: OptionalUser, csrf: FormToken) -> str:
    return render("register.html", {"user": user, "csrf": csrf})


@router.post("/register")
async def register(
    request: Request, session: DbSession, user: OptionalUser, form: CheckedForm, csrf: FormToken
) -> Response:
    email = text_field(form, "email", max_length=320)
    try:
        async with savepoint(session):  # nothing of the refused form is kept
            account = await service.register(
                session, email=email, password=text_field(form, "password"), current=user
            )
    except GradeflowError as exc:
        return _page("register.html", {"user": user, "csrf": csrf, "email": email}, error=exc)
    response = _redirect("/account")
    set_session_cookie(request, response, account.id)
    return response


@router.post("/sign-out")
async def sign_out(form: CheckedForm) -> Response:
    response = _redirect("/")
    clear_session_cookie(response)
    return response


async def _account_context(
    session: DbSession, user: User, csrf: str, **extra: Any
) -> dict[str, Any]:
    can_have_tokens = user.role in (Role.teacher, Role.admin)
    return {
        "user": user,
        "csrf": csrf,
        "points": await grading.total_points(session, user_id=user.id),
        "tokens": await tokens.list_tokens(session, user_id=user.id) if can_have_tokens else None,
    } | extra


@router.get("/account")
async def account_page(session: DbSession, user: AccountHolder, csrf: FormToken) -> str:
    return render("account.html", await _account_context(session, user, csrf))


@router.post("/account/tokens")
async def create_token(
    session: DbSession, user: AccountHolder, form: CheckedForm, csrf: FormToken
) -> Response:
    try:
        async with savepoint(session):
            require_role(user, Role.teacher, Role.admin)
            token, secret = await tokens.create_token(
                session, user=user, name=text_field(form, "name", max_length=200)
            )
    except GradeflowError as exc:
        return _page("account.html", await _account_context(session, user, csrf), error=exc)
    context = await _account_context(session, user, csrf, new_token=secret, new_token_id=token.id)
    return _page("account.html", context, status=201)


@router.post("/account/tokens/{token_id:int}/revoke")
async def revoke_token(
    token_id: PathId, session: DbSession, user: AccountHolder, form: CheckedForm
) -> Response:
    await tokens.revoke_token(session, user_id=user.id, token_id=token_id)
    return _redirect("/account")
