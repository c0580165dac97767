"""Wire format of grading jobs: a message only names the row to work on."""

from __future__ import annotations

import json
from dataclasses import dataclass

GRADING_QUEUE = "grading"
# Grade-file imports have a queue of their own, consumed by a few import slots, so a
# long import never delays interactive grading.
IMPORTS_QUEUE = "imports"
QUEUES = (GRADING_QUEUE, IMPORTS_QUEUE)
# Interactive submissions go ahead of bulk work such as regrades.
PRIORITY_INTERACTIVE = 5
PRIORITY_BULK = 1


def grading_priority(*, regrading: bool) -> int:
    """A submission's job priority: being regraded, it is bulk work, whichever path
    publishes it (a regrade, recovery, the sweeper, a release)."""
    return PRIORITY_BULK if regrading else PRIORITY_INTERACTIVE


class MalformedJob(ValueError):
    """The message is not a grading job."""


@dataclass(frozen=True)
class GradeJob:
    submission_id: int

    def encode(self) -> bytes:
        return json.dumps({"v": 1, "submission_id": self.submission_id}).encode()

    @classmethod
    def decode(cls, body: bytes) -> GradeJob:
        try:
            data = json.loads(body)
            submission_id = data["submission_id"]
        except (ValueError, TypeError, KeyError) as exc:
            raise MalformedJob(f"not a grading job: {body[:100]!r}") from exc
        if (
            not isinstance(submission_id, int)
            or isinstance(submission_id, bool)
            or submission_id < 1
        ):
            raise MalformedJob(f"bad submission id: {submission_id!r}")
        return cls(submission_id)


SOLUTION_CHECK = "solution_check"


@dataclass(frozen=True)
class SolutionCheckJob:
    """Grade an authored assignment's reference solution: names its ``assignment_drafts`` row."""

    draft_id: int

    def encode(self) -> bytes:
        return json.dumps({"v": 1, "kind": SOLUTION_CHECK, "draft_id": self.draft_id}).encode()

    @classmethod
    def decode(cls, body: bytes) -> SolutionCheckJob:
        try:
            draft_id = json.loads(body)["draft_id"]
        except (ValueError, TypeError, KeyError) as exc:
            raise MalformedJob(f"not a solution check: {body[:100]!r}") from exc
        if not isinstance(draft_id, int) or isinstance(draft_id, bool) or draft_id < 1:
            raise MalformedJob(f"bad draft id: {draft_id!r}")
        return cls(draft_id)


@dataclass(frozen=True)
class ImportJob:
    upload_id: int

    def encode(self) -> bytes:
        return json.dumps({"v": 1, "upload_id": self.upload_id}).encode()

    @classmethod
    def decode(cls, body: bytes) -> ImportJob:
        try:
            upload_id = json.loads(body)["upload_id"]
        except (ValueError, TypeError, KeyError) as exc:
            raise MalformedJob(f"not an import job: {body[:100]!r}") from exc
        if not isinstance(upload_id, int) or isinstance(upload_id, bool) or upload_id < 1:
            raise MalformedJob(f"bad upload id: {upload_id!r}")
        return cls(upload_id)


@dataclass(frozen=True)
class PreviewJob:
    """Grade a submission again for a regrade preview: names a ``preview_results`` row."""

    result_id: int

    def encode(self) -> bytes:
        return json.dumps({"v": 1, "kind": "preview", "preview_result_id": self.result_id}).encode()


def decode_job(body: bytes) -> GradeJob | PreviewJob | SolutionCheckJob:
    """The job a message carries; a job of another kind than grading says so in ``kind``."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedJob(f"not a grading job: {body[:100]!r}") from exc
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == SOLUTION_CHECK:
        return SolutionCheckJob.decode(body)
    if kind != "preview":
        return GradeJob.decode(body)
    result_id = data.get("preview_result_id")
    if not isinstance(result_id, int) or isinstance(result_id, bool) or result_id < 1:
        raise MalformedJob(f"bad preview result id: {result_id!r}")
    return PreviewJob(result_id)
