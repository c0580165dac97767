"""Teacher pages for grade files: the course's upload form and list, and one upload's
page with live progress (``static/uploads.js`` over ``/api/events``), errors, changes,
and apply and revert buttons.

The upload form is multipart, so its CSRF token is read from the streamed form's
fields once the body is in (``checked_form`` would spool the file); the other forms
go through ``CheckedForm``.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from gradeflow.accounts.models import User
from gradeflow.accounts.security import CSRF_COOKIE
from gradeflow.body_limit import set_body_limit
from gradeflow.courses.members import taught_course
from gradeflow.db import transaction
from gradeflow.deps import (
    AccountHolder,
    AppRuntime,
    DbSession,
    PathId,
    SignInRequired,
    TaughtCoursePage,
    optional_user,
)
from gradeflow.errors import Forbidden, GradeflowError
from gradeflow.events.service import latest_event_id
from gradeflow.grades import imports
from gradeflow.grades.intake import receive_form
from gradeflow.web.forms import CheckedForm, FormToken
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
    # receive_form bounds the body itself, by the file's limit.
    set_body_limit(request.scope, None)
    form = await receive_form(
        request.stream(),
        content_type=request.headers.get("content-type", ""),
        content_length=request.headers.get("content-length"),
        store=runtime.blobs,
        max_file_bytes=runtime.settings.max_upload_mb * MIB,
    )
    assert form.file is not None
    key = request.cookies.get(CSRF_COOKIE, "")
    token = form.fields.get("csrf_token", "")
    if not key or not runtime.signer.form_token_matches(key, token):
        await runtime.blobs.delete(form.file.key)
        raise Forbidden(
            "This form has expired or was sent from another site; reload the page and try again."
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
    upload = await imports.taught_upload(session, upload_id=upload_id, user=user)
    force = form.get("force") == "true"
    try:
        if action == "apply":
            await imports.request_apply(
                session, outbox=runtime.outbox, upload=upload, user=user, force=force
            )
        elif action == "revert":
            await imports.request_revert(
                session, outbox=runtime.outbox, upload=upload, user=user, force=force
            )
        else:
            return Response(status_code=404)
    except GradeflowError as exc:
        await session.rollback()
        return await _upload_page(session, user, upload_id, csrf, error=exc.message)
    return RedirectResponse(f"/grade-uploads/{upload_id}", status_code=303)
