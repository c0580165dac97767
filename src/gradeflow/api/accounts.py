"""JSON routes for identities: anonymous sessions, registration, sign-in, /api/me."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts import service, tokens
from gradeflow.accounts.identity import Caller
from gradeflow.accounts.models import ApiToken, Role, User
from gradeflow.accounts.throttle import SignInLimits
from gradeflow.api import cached
from gradeflow.api.cached import cached_answer
from gradeflow.api.schemas import COMMON_ERRORS, DateTimeText, errors
from gradeflow.deps import (
    AppRuntime,
    CurrentAdmin,
    CurrentCaller,
    CurrentTeacher,
    DbSession,
    OptionalUser,
    PathId,
    Visitor,
    clear_session_cookie,
    client_address,
    set_session_cookie,
)
from gradeflow.grading.reads import user_progress
from gradeflow.grading.service import total_points
from gradeflow.runtime import Runtime

router = APIRouter(prefix="/api", tags=["accounts"], responses=COMMON_ERRORS)


class Credentials(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1000)


class NewUser(Credentials):
    role: Role = Role.student
    name: str | None = Field(default=None, max_length=200)
    student_number: str | None = Field(default=None, max_length=64)


class UserView(BaseModel):
    id: int
    email: str | None = Field(description="None for an anonymous student.")
    name: str | None
    student_number: str | None
    role: Role
    anonymous: bool
    points: float = Field(description="The sum over assignments of the best score.")


def describe_user(user: User | Caller, points: float) -> UserView:
    return UserView(
        id=user.id,
        email=user.email,
        name=user.name,
        student_number=user.student_number,
        role=user.role,
        anonymous=user.is_anonymous,
        points=points,
    )


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="What the token is for.")


class TokenView(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The secret's first characters, to tell tokens apart.")
    created_at: DateTimeText
    last_used_at: DateTimeText | None


class CreatedToken(TokenView):
    token: str = Field(description="The secret, shown this once: send `Authorization: Bearer …`.")


class TokenList(BaseModel):
    items: list[TokenView]


def describe_token(token: ApiToken) -> TokenView:
    return TokenView(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        created_at=token.created_at.isoformat(),
        last_used_at=token.last_used_at.isoformat() if token.last_used_at else None,
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


@router.post(
    "/auth/login", summary="Sign in (throttled per account and address)", responses=errors(401, 429)
)
async def login(
    body: Credentials, request: Request, response: Response, runtime: AppRuntime, session: DbSession
) -> UserView:
    user_id = await service.sign_in(
        runtime.session_factory,
        email=body.email,
        password=body.password,
        address=client_address(request),
        limits=SignInLimits.from_settings(runtime.settings),
    )
    user = await session.get_one(User, user_id)
    set_session_cookie(request, response, user.id)
    return describe_user(user, await total_points(session, user_id=user.id))


@router.post("/auth/logout", status_code=204, summary="Sign out")
async def logout(response: Response) -> Response:
    clear_session_cookie(response)
    response.status_code = 204
    return response


@router.get(
    "/me",
    summary="The caller: id, role and total points",
    response_model=UserView,
    responses=errors(401),
)
async def me(request: Request, caller: CurrentCaller) -> Response:
    async def build(session: AsyncSession, runtime: Runtime) -> UserView:
        progress = await user_progress(session, runtime.cache, user_id=caller.id)
        return describe_user(caller, progress["points"])

    return await cached_answer(request, cached.ME, caller.id, build)


@router.post(
    "/users",
    status_code=201,
    summary="Admin: create a student, teacher or admin account",
    responses=errors(401, 403, 409),
)
async def create_account(body: NewUser, session: DbSession, admin: CurrentAdmin) -> UserView:
    user = await service.create_user(
        session,
        email=body.email,
        password=body.password,
        role=body.role,
        name=body.name,
        student_number=body.student_number,
    )
    return describe_user(user, 0.0)


@router.post(
    "/tokens",
    status_code=201,
    summary="Teacher: create an API token (its secret is shown once)",
    responses=errors(401, 403),
)
async def create_token(body: NewToken, session: DbSession, teacher: CurrentTeacher) -> CreatedToken:
    token, secret = await tokens.create_token(session, user=teacher, name=body.name)
    return CreatedToken(**describe_token(token).model_dump(), token=secret)


@router.get("/tokens", summary="Teacher: the caller's live API tokens", responses=errors(401, 403))
async def list_tokens(session: DbSession, teacher: CurrentTeacher) -> TokenList:
    rows = await tokens.list_tokens(session, user_id=teacher.id)
    return TokenList(items=[describe_token(token) for token in rows])


@router.delete(
    "/tokens/{token_id:int}",
    status_code=204,
    summary="Teacher: revoke an API token",
    responses=errors(401, 403, 404),
)
async def revoke_token(token_id: PathId, session: DbSession, teacher: CurrentTeacher) -> Response:
    await tokens.revoke_token(session, user_id=teacher.id, token_id=token_id)
    return Response(status_code=204)
