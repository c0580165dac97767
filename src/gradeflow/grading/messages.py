"""Wire format of grading jobs: a message only names the row to grade."""

from __future__ import annotations

import json
from dataclasses import dataclass

GRADING_QUEUE = "grading"
QUEUES = (GRADING_QUEUE,)
# Interactive submissions go ahead of bulk work such as regrades.
PRIORITY_INTERACTIVE = 5
PRIORITY_BULK = 1


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


@dataclass(frozen=True)
class PreviewJob:
    """Grade a submission again for a regrade preview: names a ``preview_results`` row."""

    result_id: int

    def encode(self) -> bytes:
        return json.dumps({"v": 1, "kind": "preview", "preview_result_id": self.result_id}).encode()


def decode_job(body: bytes) -> GradeJob | PreviewJob:
    """The job a message carries; a job of another kind than grading says so in ``kind``."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedJob(f"not a grading job: {body[:100]!r}") from exc
    if not isinstance(data, dict) or data.get("kind") != "preview":
        return GradeJob.decode(body)
    result_id = data.get("preview_result_id")
    if not isinstance(result_id, int) or isinstance(result_id, bool) or result_id < 1:
        raise MalformedJob(f"bad preview result id: {result_id!r}")
    return PreviewJob(result_id)
