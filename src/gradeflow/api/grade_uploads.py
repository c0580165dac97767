"""JSON routes for grade-file uploads (imports) and roster uploads.

An upload's body is streamed into the blob store without holding a database
connection: the caller is checked in one short unit of work, the file received,
and the upload recorded in another (whose commit publishes the import job).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from gradeflow.accounts.models import User
from gradeflow.api.schemas import COMMON_ERRORS, DateTimeText, errors
from gradeflow.courses.members import taught_course
from gradeflow.db import transaction
from gradeflow.deps import (
    AppRuntime,
    CurrentUser,
    DbSession,
    PathId,
    current_user,
    optional_user,
    receive_upload,
)
from gradeflow.grades import imports, roster
from gradeflow.grades.intake import ReceivedForm
from gradeflow.grades.models import UploadStatus
from gradeflow.runtime import Runtime

router = APIRouter(prefix="/api", tags=["grade uploads"], responses=COMMON_ERRORS)
MIB = 1024 * 1024


class RowErrorView(BaseModel):
    row: int = Field(description="The row as a spreadsheet numbers it (the header is row 1).")
    column: str
    message: str


class ChangeView(BaseModel):
    student: str = Field(description="The student's email (or student number).")
    assessment: str
    old: float | None = Field(description="None: the grade did not exist.")
    new: float | None
    old_letter: str | None = None
    new_letter: str | None = None


class UploadView(BaseModel):
    id: int
    course_id: int
    status: UploadStatus
    phase: str = Field(description="queued, reading, staging, checking, applying or done.")
    dry_run: bool
    force: bool
    filename: str
    size: int
    sha256: str
    rows_total: int | None = Field(
        description="Rows in the file: an estimate while it is read (see rows_total_estimated), "
        "the count of rows read once the import ends."
    )
    rows_total_estimated: bool = Field(
        description="rows_total is the reader's estimate (lines of a CSV, the declared size "
        "of a sheet), not a count yet."
    )
    rows_done: int
    errors: list[RowErrorView] = Field(description="The first 100 errors; see errors_total.")
    errors_total: int
    errors_truncated: bool
    changes: list[ChangeView] = Field(description="The first 100 changes; see changes_total.")
    changes_total: int
    changes_truncated: bool
    message: str
    duplicate_of: int | None = Field(description="An earlier upload of the same content.")
    uploaded_by: int | None
    created_at: DateTimeText
    finished_at: DateTimeText | None
    reverted_at: DateTimeText | None
    revert_status: str | None = Field(
        description="A requested revert: queued, running, reverted, refused or failed "
        "(None: never requested)."
    )
    can_apply: bool
    can_revert: bool


class UploadList(BaseModel):
    items: list[UploadView]


class ForceOption(BaseModel):
    force: bool = Field(default=False, description="Go ahead although grades changed since.")


class RosterView(BaseModel):
    rows: int = Field(description="Rows naming a student: enrolled + already_enrolled + repeated.")
    enrolled: int = Field(description="Students enrolled by this file.")
    already_enrolled: int
    repeated: int = Field(description="Rows naming a student an earlier row named (once).")
    repeats: list[RowErrorView] = Field(description="The first 100 repeated rows.")


def _multipart(description: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"file": {"type": "string", "format": "binary"}}
    if "dry_run" in description:
        fields |= {
            "dry_run": {"type": "string", "enum": ["true", "false"], "default": "false"},
            "force": {"type": "string", "enum": ["true", "false"], "default": "false"},
        }
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["file"], "properties": fields}
                }
            },
        }
    }


def view(upload: Any) -> UploadView:
    return UploadView.model_validate(imports.describe_upload(upload))


async def receive_course_file(
    request: Request, runtime: Runtime, *, course_id: int, max_bytes: int
) -> tuple[User, ReceivedForm]:
    """Check the caller teaches the course, then stream the body's file into the blob store."""
    async with transaction(runtime.session_factory) as session:
        user = await current_user(await optional_user(request, session))
        await taught_course(session, course_id=course_id, user=user)
    return user, await receive_upload(request, runtime.blobs, max_file_bytes=max_bytes)


@router.post(
    "/courses/{course_id:int}/grade-uploads",
    status_code=202,
    summary="Teacher: upload a grade file (CSV or XLSX) to import; answers at once",
    responses=errors(401, 403, 404, 413, 415),
    openapi_extra=_multipart(
        "The file in `file`; `dry_run` validates only; `force` applies "
        "although the grades changed since an earlier upload of the file."
    ),
)
async def upload_grades(course_id: PathId, request: Request, runtime: AppRuntime) -> UploadView:
    user, form = await receive_course_file(
        request, runtime, course_id=course_id, max_bytes=runtime.settings.max_upload_mb * MIB
    )
    upload = await imports.record_received_upload(
        runtime.session_factory,
        outbox=runtime.outbox,
        blobs=runtime.blobs,
        course_id=course_id,
        user=user,
        form=form,
    )
    return view(upload)


@router.get(
    "/courses/{course_id:int}/grade-uploads",
    summary="Teacher: the course's grade uploads, newest first",
    responses=errors(401, 403, 404),
)
async def list_grade_uploads(
    course_id: PathId, session: DbSession, user: CurrentUser
) -> UploadList:
    await taught_course(session, course_id=course_id, user=user)
    uploads = await imports.list_uploads(session, course_id=course_id)
    return UploadList(items=[view(upload) for upload in uploads])


@router.get(
    "/grade-uploads/{upload_id:int}",
    summary="Teacher: one grade upload with its progress, errors and changes",
    responses=errors(401, 403, 404),
)
async def get_grade_upload(upload_id: PathId, session: DbSession, user: CurrentUser) -> UploadView:
    return view(await imports.taught_upload(session, upload_id=upload_id, user=user))


@router.post(
    "/grade-uploads/{upload_id:int}/apply",
    status_code=202,
    summary="Teacher: apply a validated dry run (refused if its grades changed, unless force)",
    responses=errors(401, 403, 404, 409),
)
async def apply_grade_upload(
    upload_id: PathId,
    runtime: AppRuntime,
    session: DbSession,
    user: CurrentUser,
    body: ForceOption | None = None,
) -> UploadView:
    upload = await imports.taught_upload(session, upload_id=upload_id, user=user)
    force = body.force if body is not None else False
    await imports.request_apply(
        session, outbox=runtime.outbox, upload=upload, user=user, force=force
    )
    return view(upload)


@router.post(
    "/grade-uploads/{upload_id:int}/revert",
    status_code=202,
    summary="Teacher: queue putting back every grade an applied upload changed; answers at once",
    description="The upload stays `applied`; its `revert_status` goes `queued`, `running`, "
    "then `reverted` (every grade put back in one step, `reverted_at` set) or `refused` "
    "(grades changed since and no `force`: nothing changed; ask again with force). "
    "409 if it is not applied, reverted already, or being reverted.",
    responses=errors(401, 403, 404, 409),
)
async def revert_grade_upload(
    upload_id: PathId,
    runtime: AppRuntime,
    session: DbSession,
    user: CurrentUser,
    body: ForceOption | None = None,
) -> UploadView:
    upload = await imports.taught_upload(session, upload_id=upload_id, user=user)
    force = body.force if body is not None else False
    await imports.request_revert(
        session, outbox=runtime.outbox, upload=upload, user=user, force=force
    )
    return view(upload)


@router.post(
    "/courses/{course_id:int}/roster",
    summary="Teacher: enrol every student a CSV or XLSX roster names (all or none)",
    responses=errors(401, 403, 404, 413, 415),
    openapi_extra=_multipart("The roster in `file`: a `student` column of emails or numbers."),
)
async def upload_roster(course_id: PathId, request: Request, runtime: AppRuntime) -> RosterView:
    _, form = await receive_course_file(
        request, runtime, course_id=course_id, max_bytes=roster.MAX_ROSTER_BYTES
    )
    assert form.file is not None
    result = await roster.enrol_received_roster(
        runtime.session_factory, blobs=runtime.blobs, course_id=course_id, received=form.file
    )
    return RosterView(
        rows=result.rows,
        enrolled=result.enrolled,
        already_enrolled=result.already_enrolled,
        repeated=result.repeated,
        repeats=[
            RowErrorView(row=r.row, column=r.column, message=r.message) for r in result.repeats
        ],
    )
