"""JSON routes for identities: anonymous sessions, registration, sign-in, /api/me."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from gradeflow.accounts import service
from gradeflow.accounts.models import Role, User
from gradeflow.api.deps import (
    clear_session_cookie,
    get_runtime,
    optional_user,
    require_role,
    require_user,
    set_session_cookie,
    user_or_new_anonymous,
)
from gradeflow.db import transaction
from gradeflow.grading.reads import user_progress
from gradeflow.grading.service import total_points

router = APIRouter(prefix="/api", tags=["accounts"])


class Credentials(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1000)


class NewUser(Credentials):
    role: Role = Role.student


def describe_user(user: User, points: float) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role.value,
        "anonymous": user.is_anonymous,
        "points": points,
    }


@router.post("/session", summary="Get or create an anonymous student identity (cookie)")
async def create_session(request: Request, response: Response) -> dict[str, Any]:
    async with transaction(get_runtime(request).session_factory) as session:
        user = await user_or_new_anonymous(session, request, response)
        return describe_user(user, await total_points(session, user_id=user.id))


@router.post(
    "/auth/register", status_code=201, summary="Create an account (claims the anonymous identity)"
)
async def register(body: Credentials, request: Request, response: Response) -> dict[str, Any]:
    async with transaction(get_runtime(request).session_factory) as session:
        current = await optional_user(session, request)
        user = await service.register(
            session, email=body.email, password=body.password, current=current
        )
        points = await total_points(session, user_id=user.id)
    set_session_cookie(request, response, user.id)
    return describe_user(user, points)


@router.post("/auth/login", summary="Sign in")
async def login(body: Credentials, request: Request, response: Response) -> dict[str, Any]:
    async with transaction(get_runtime(request).session_factory) as session:
        user = await service.authenticate(session, email=body.email, password=body.password)
        points = await total_points(session, user_id=user.id)
    set_session_cookie(request, response, user.id)
    return describe_user(user, points)


@router.post("/auth/logout", status_code=204, summary="Sign out")
async def logout(response: Response) -> Response:
    clear_session_cookie(response)
    response.status_code = 204
    return response


@router.get("/me", summary="The caller: id, role and total points")
async def me(request: Request) -> dict[str, Any]:
    runtime = get_runtime(request)
    async with transaction(runtime.session_factory) as session:
        user = await require_user(session, request)
        progress = await user_progress(session, runtime.cache, user_id=user.id)
    return describe_user(user, progress["points"])


@router.post("/users", status_code=201, summary="Admin: create a student, teacher or admin account")
async def create_account(body: NewUser, request: Request) -> dict[str, Any]:
    async with transaction(get_runtime(request).session_factory) as session:
        require_role(await require_user(session, request), Role.admin)
        user = await service.create_user(
            session, email=body.email, password=body.password, role=body.role
        )
    return describe_user(user, 0.0)
