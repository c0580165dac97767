"""Assignments authored in the browser or through the API: working copies and their views.

Fields are checked by the rules an assignment directory meets
(``format.check_assignment``), so what the CLI refuses is refused here with the same
words, naming the field instead of the file. Saving keeps the result as the
assignment's working copy (``AssignmentDraft``). Students keep seeing the assignment
row until the working copy's reference solution passes a check (``grading.checks``);
a change that cannot alter the check's outcome (title, handout, starter, points,
scoring, order) goes live at once when nothing is waiting for a check.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import User
from gradeflow.courses.format import (
    MAX_SUPPORT_BYTES,
    MAX_TEXT_FILE_BYTES,
    SETTING_KEYS,
    SOURCE_FILES,
    AssignmentSource,
    AssignmentSpec,
    check_assignment,
)
from gradeflow.courses.models import Assignment, AssignmentDraft, CheckStatus, Course
from gradeflow.courses.service import (
    apply_content,
    assignment_content,
    content_spec,
    get_assignment,
    list_assignments,
    spec_content,
)
from gradeflow.db import utcnow
from gradeflow.errors import Conflict, NotFound

# The largest request that can carry a valid assignment: four texts and the support
# files, with room for JSON escapes and form encoding.
MAX_AUTHORED_BYTES = 2 * (4 * MAX_TEXT_FILE_BYTES + MAX_SUPPORT_BYTES) + 64 * 1024
# What the check of a reference solution depends on: changing any of it checks again.
CHECKED_FIELDS = ("tests", "solution", "support_files", "module", "time_limit_s", "memory_mb")


@dataclass(frozen=True)
class Saved:
    assignment: Assignment
    draft: AssignmentDraft | None
    needs_check: bool  # the checked files changed: the working copy waits for a check
    live_changed: bool  # what students see changed


def _source(fields: Mapping[str, Any], support_files: Mapping[str, bytes]) -> AssignmentSource:
    return AssignmentSource(
        settings={key: fields[key] for key in SETTING_KEYS if fields.get(key) is not None},
        handout_md=fields.get("handout_md"),
        tests=fields.get("tests"),
        solution=fields.get("solution"),
        starter=fields.get("starter") or "",
        support_files=support_files,
    )


def _encoded(files: Mapping[str, str | None]) -> dict[str, bytes]:
    return {path: text.encode() for path, text in files.items() if text is not None}


def _content_fields(content: Mapping[str, Any]) -> dict[str, Any]:
    return {key: content[key] for key in (*SETTING_KEYS, *SOURCE_FILES)}


def _decoded(content: Mapping[str, Any]) -> dict[str, bytes]:
    return {path: base64.b64decode(data) for path, data in content["support_files"].items()}


async def _check_slug_free(session: AsyncSession, course_id: int, slug: str) -> None:
    taken = await session.scalar(
        select(Assignment.id).where(Assignment.course_id == course_id, Assignment.slug == slug)
    )
    if taken is not None:
        raise Conflict(
            f"The course has an assignment with the slug {slug!r} already.",
            details={"field": "slug"},
        )


async def create_assignment(
    session: AsyncSession, *, course: Course, author: User, fields: Mapping[str, Any]
) -> Saved:
    """A new draft assignment of ``course`` whose check is to be queued.

    ``fields`` are the API's: ``slug``, the settings of ``assignment.toml``, the texts
    and ``support_files`` (relative path -> text).
    """
    slug = str(fields.get("slug", ""))
    spec = check_assignment(_source(fields, _encoded(fields.get("support_files") or {})), slug=slug)
    await _check_slug_free(session, course.id, slug)
    order = spec.order
    if order is None:
        last = await session.scalar(
            select(func.max(Assignment.order)).where(Assignment.course_id == course.id)
        )
        order = int(last or 0) + 1
    content = spec_content(spec, order=order)
    assignment = Assignment(course_id=course.id, slug=slug, published=False)
    apply_content(assignment, content)
    session.add(assignment)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # a concurrent request took the slug
        raise Conflict(f"The course has an assignment with the slug {slug!r} already.") from exc
    draft = AssignmentDraft(
        assignment_id=assignment.id,
        content=content,
        check_status=CheckStatus.queued,
        attempts=0,
        generation=1,
        requested_by_id=author.id,
        requested_at=utcnow(),
    )
    session.add(draft)
    await session.flush()
    return Saved(assignment, draft, needs_check=True, live_changed=False)


async def update_assignment(
    session: AsyncSession, *, assignment: Assignment, author: User, changes: Mapping[str, Any]
) -> Saved:
    """Apply ``changes`` (any of the create fields) to the assignment's working copy.

    ``support_files`` merges: a path with text adds or replaces that file, a path with
    None removes it, and files not named are kept.
    """
    draft = await working_copy(session, assignment_id=assignment.id)
    working = draft.content if draft is not None else assignment_content(assignment)
    fields = _content_fields(working) | {k: v for k, v in changes.items() if v is not None}
    support = _decoded(working)
    for path, text in (changes.get("support_files") or {}).items():
        if text is None:
            support.pop(path, None)
        else:
            support[path] = text.encode()
    slug = assignment.slug if changes.get("slug") is None else str(changes["slug"])
    spec = check_assignment(_source(fields, support), slug=slug)
    if slug != assignment.slug:
        await _check_slug_free(session, assignment.course_id, slug)
        assignment.slug = slug
    content = spec_content(spec, order=spec.order if spec.order is not None else working["order"])
    needs_check = any(content[name] != working[name] for name in CHECKED_FIELDS)
    # A check that failed on our side is tried again by any save.
    if draft is not None and draft.check_status is CheckStatus.error:
        needs_check = True
    live_changed = False
    if needs_check:
        if draft is None:
            draft = AssignmentDraft(assignment_id=assignment.id, generation=0)
            session.add(draft)
        draft.content = content
        draft.check_status = CheckStatus.queued
        draft.check_result = None
        draft.attempts = 0
        draft.lease_owner = draft.lease_expires_at = draft.job_published_at = None
        draft.checked_at = None
        draft.generation = (draft.generation or 0) + 1
        draft.requested_by_id = author.id
        draft.requested_at = utcnow()
    else:
        if draft is not None:
            draft.content = content
        # A pending or failed working copy goes live with its check, not before.
        if draft is None or draft.check_status is CheckStatus.passed:
            live_changed = apply_content(assignment, content)
    await session.flush()
    return Saved(assignment, draft, needs_check=needs_check, live_changed=live_changed)


async def working_copy(session: AsyncSession, *, assignment_id: int) -> AssignmentDraft | None:
    draft: AssignmentDraft | None = await session.scalar(
        select(AssignmentDraft)
        .where(AssignmentDraft.assignment_id == assignment_id)
        .execution_options(populate_existing=True)
    )
    return draft


async def authored_assignment(
    session: AsyncSession, *, course: Course, assignment_id: int
) -> tuple[Assignment, AssignmentDraft | None]:
    """An assignment of ``course``, drafts included, with its working copy."""
    assignment = await get_assignment(session, assignment_id=assignment_id, include_drafts=True)
    if assignment.course_id != course.id:
        raise NotFound("No such assignment in this course.")
    return assignment, await working_copy(session, assignment_id=assignment.id)


async def authored_assignments(
    session: AsyncSession, *, course: Course
) -> list[tuple[Assignment, AssignmentDraft | None]]:
    """Every assignment of ``course``, drafts included, in practice order."""
    assignments = await list_assignments(session, course_id=course.id, include_drafts=True)
    drafts = {
        draft.assignment_id: draft
        for draft in await session.scalars(
            select(AssignmentDraft).where(
                AssignmentDraft.assignment_id.in_([a.id for a in assignments])
            )
        )
    }
    return [(assignment, drafts.get(assignment.id)) for assignment in assignments]


async def exported_spec(
    session: AsyncSession, *, assignment_id: int, pending: bool = False
) -> AssignmentSpec:
    """What an export writes: the published version, or the working copy of a draft.

    With ``pending``, a published assignment's working copy waiting for (or failing)
    its check instead.
    """
    assignment = await get_assignment(session, assignment_id=assignment_id, include_drafts=True)
    draft = await working_copy(session, assignment_id=assignment.id)
    use_draft = draft is not None and (pending or not assignment.published)
    content = draft.content if draft is not None and use_draft else assignment_content(assignment)
    return content_spec(content, slug=assignment.slug)


def describe_check(draft: AssignmentDraft | None) -> dict[str, Any] | None:
    if draft is None:
        return None
    return {
        "status": draft.check_status.value,
        "attempts": draft.attempts,
        "result": draft.check_result,
        "requested_at": draft.requested_at.isoformat(),
        "checked_at": draft.checked_at.isoformat() if draft.checked_at else None,
    }


def describe_authored(
    assignment: Assignment, draft: AssignmentDraft | None, *, full: bool = False
) -> dict[str, Any]:
    """The teacher's view: the working copy, the state students see, the last check."""
    content = draft.content if draft is not None else assignment_content(assignment)
    view: dict[str, Any] = {
        "id": assignment.id,
        "course_id": assignment.course_id,
        "slug": assignment.slug,
        "title": content["title"],
        "order": content["order"],
        "points": content["points"],
        "scoring": content["scoring"],
        "state": "published" if assignment.published else "draft",
        "pending_changes": assignment.published
        and draft is not None
        and draft.check_status is not CheckStatus.passed,
        "check": describe_check(draft),
    }
    if not full:
        return view
    texts, binary = support_texts(content["support_files"])
    return view | {
        "module": content["module"],
        "time_limit_s": content["time_limit_s"],
        "memory_mb": content["memory_mb"],
        "handout_md": content["handout_md"],
        "starter": content["starter"],
        "tests": content["tests"],
        "solution": content["solution"],
        "test_ids": list(content["test_ids"]),
        "support_files": texts,
        "binary_support_files": binary,
    }


def support_texts(encoded: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Stored support files as text, and the paths of those that are not UTF-8 text."""
    texts: dict[str, str] = {}
    binary: list[str] = []
    for path in sorted(encoded):
        try:
            texts[path] = base64.b64decode(encoded[path]).decode("utf-8")
        except (UnicodeDecodeError, binascii.Error):
            binary.append(path)
    return texts, binary
