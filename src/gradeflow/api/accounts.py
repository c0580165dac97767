"""JSON routes for identities: anonymous sessions, registration, sign-in, /api/me."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from gradeflow.accounts import service
from gradeflow.accounts.models import Role, User
from gradeflow.api.schemas import COMMON_ERRORS, errors
from gradeflow.deps import (
    AppRuntime,
    CurrentAdmin,
    CurrentUser,
    DbSession,
    OptionalUser,
    Visitor,
    clear_session_cookie,
    set_session_cookie,
)
from gradeflow.grading.reads import user_progress
from gradeflow.grading.service import total_points

router = APIRouter(prefix="/api", tags=["accounts"], responses=COMMON_ERRORS)


class Credentials(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1000)


class NewUser(Credentials):
    role: Role = Role.student


class UserView(BaseModel):
    id: int
    email: str | None = Field(description="None for an anonymous student.")
    role: Role
    anonymous: bool
    points: float = Field(description="The sum over assignments of the best score.")


def describe_user(user: User, points: float) -> UserView:
    return UserView(
        id=user.id, email=user.email, role=user.role, anonymous=user.is_anonymous, points=points
    )


@router.post("/session", summary="Get or create an anonymous student identity (cookie)")
async def create_session(session: DbSession, user: Visitor) -> UserView:
    return describe_user(user, await total_points(session, user_id=user.id))


@router.post(
    "/auth/register",
    status_code=201,
    summary="Create an account (claims the anonymous identity)",
    responses=errors(409),
)
async def register(
    body: Credentials,
    request: Request,
    response: Response,
    session: DbSession,
    current: OptionalUser,
) -> UserView:
    user = await service.register(
        session, email=body.email, password=body.password, current=current
    )
    set_session_cookie(request, response, user.id)
    return describe_user(user, await total_points(session, user_id=user.id))


@router.post("/auth/login", summary="Sign in", responses=errors(401))
async def login(
    body: Credentials, request: Request, response: Response, session: DbSession
) -> UserView:
    user = await service.authenticate(session, email=body.email, password=body.password)
    set_session_cookie(request, response, user.id)
    return describe_user(user, await total_points(session, user_id=user.id))


@router.post("/auth/logout", status_code=204, summary="Sign out")
async def logout(response: Response) -> Response:
    clear_session_cookie(response)
    response.status_code = 204
    return response


@router.get("/me", summary="The caller: id, role and total points", responses=errors(401))
async def me(runtime: AppRuntime, session: DbSession, user: CurrentUser) -> UserView:
    progress = await user_progress(session, runtime.cache, user_id=user.id)
    return describe_user(user, progress["points"])


@router.post(
    "/users",
    status_code=201,
    summary="Admin: create a student, teacher or admin account",
    responses=errors(401, 403, 409),
)
async def create_account(body: NewUser, session: DbSession, admin: CurrentAdmin) -> UserView:
    user = await service.create_user(
        session, email=body.email, password=body.password, role=body.role
    )
    return describe_user(user, 0.0)
