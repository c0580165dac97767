"""Teacher pages for grade files: the course's upload form and list, and one upload's
page with live progress (``static/uploads.js`` over ``/api/events``), errors, changes,
and apply and revert buttons.

The upload form is multipart, so its CSRF token is checked by
``receive_checked_upload``; the other forms go through ``CheckedForm``.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from gradeflow.accounts.models import User
from gradeflow.courses.members import taught_course
from gradeflow.db import savepoint, transaction
from gradeflow.deps import (
    AccountHolder,
    AppRuntime,
    DbSession,
    PathId,
    SignInRequired,
    TaughtCoursePage,
    optional_user,
)
from gradeflow.errors import GradeflowError
from gradeflow.events.service import latest_event_id
from gradeflow.grades import imports
from gradeflow.web.forms import CheckedForm, FormToken, receive_checked_upload
from gradeflow.web.pages import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
MIB = 1024 * 1024


def _signed_in(user: User | None) -> bool:
    return user is not None and not user.is_anonymous


@router.get("/courses/{course_id:int}/grade-uploads")
async def uploads_page(
    course: TaughtCoursePage,
    runtime: AppRuntime,
    session: DbSession,
    user: AccountHolder,
    csrf: FormToken,
) -> str:
    uploads = await imports.list_uploads(session, course_id=course.id)
    return render(
        "grade_uploads.html",
        {
            "user": user,
            "csrf": csrf,
            "course": course,
            "uploads": [imports.describe_upload(u) for u in uploads],
            "max_upload_mb": runtime.settings.max_upload_mb,
        },
    )


@router.post("/courses/{course_id:int}/grade-uploads")
async def upload_from_page(course_id: PathId, request: Request, runtime: AppRuntime) -> Response:
    async with transaction(runtime.session_factory) as session:
        user = await optional_user(request, session)
        if user is None or not _signed_in(user):
            raise SignInRequired(f"/courses/{course_id}/grade-uploads")
        await taught_course(session, course_id=course_id, user=user)
    form = await receive_checked_upload(
        request, runtime, max_file_bytes=runtime.settings.max_upload_mb * MIB
    )
    upload = await imports.record_received_upload(
        runtime.session_factory,
        outbox=runtime.outbox,
        blobs=runtime.blobs,
        course_id=course_id,
        user=user,
        form=form,
    )
    return RedirectResponse(f"/grade-uploads/{upload.id}", status_code=303)


async def _upload_page(
    session: DbSession,
    user: User,
    upload_id: int,
    csrf: str,
    *,
    error: str | None = None,
) -> HTMLResponse:
    # The stream's starting point before the upload's state: read after it, progress
    # committed in between would be skipped by the page's stream and never shown.
    last_event_id = await latest_event_id(session, user_id=user.id)
    upload = await imports.taught_upload(session, upload_id=upload_id, user=user)
    view = imports.describe_upload(upload)
    context = {
        "user": user,
        "csrf": csrf,
        "upload": view,
        "upload_json": json.dumps(view),
        "last_event_id": last_event_id,
        "error": error,
    }
    return HTMLResponse(render("grade_upload.html", context), status_code=409 if error else 200)


@router.get("/grade-uploads/{upload_id:int}", response_model=None)
async def upload_page(
    upload_id: PathId, session: DbSession, user: AccountHolder, csrf: FormToken
) -> Response:
    return await _upload_page(session, user, upload_id, csrf)


@router.post("/grade-uploads/{upload_id:int}/{action}", response_model=None)
async def upload_action(
    upload_id: PathId,
    action: str,
    runtime: AppRuntime,
    session: DbSession,
    user: AccountHolder,
    form: CheckedForm,
    csrf: FormToken,
) -> Response:
    if action not in ("apply", "revert"):
        return Response(status_code=404)
    upload = await imports.taught_upload(session, upload_id=upload_id, user=user)
    force = form.get("force") == "true"
    request_action = imports.request_apply if action == "apply" else imports.request_revert
    try:
        async with savepoint(session):
            await request_action(
                session, outbox=runtime.outbox, upload=upload, user=user, force=force
            )
    except GradeflowError as exc:
        return await _upload_page(session, user, upload_id, csrf, error=exc.message)
    return RedirectResponse(f"/grade-uploads/{upload_id}", status_code=303)
