"""What a regrade preview would change, per student: points before and after, and why.

A student's points for an assignment are their best score over its graded
submissions. "Before" uses each previewed submission's score as it was when the
preview started (kept in its result row, so the deltas of an applied preview can
still be shown); submissions graded after the preview started count as they are,
before and after. "After" replaces each previewed score as the policy would.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.models import User
from gradeflow.grading.models import PreviewResult, Regrade, Submission
from gradeflow.grading.verdicts import FINAL_STATUSES, SubmissionStatus

Policy = Literal["new", "higher"]
POLICIES: tuple[Policy, ...] = ("new", "higher")
MISSING = "missing"
APPLICABLE = frozenset({SubmissionStatus.passed, SubmissionStatus.failed})


def test_outcomes(feedback: dict[str, Any] | None) -> dict[str, str]:
    """``{test id: outcome}`` of a stored grading result."""
    tests = (feedback or {}).get("tests") or []
    return {str(t["id"]): str(t["outcome"]) for t in tests if isinstance(t, dict) and "id" in t}


def takes_new_result(
    policy: Policy, *, old_score: float | None, status: SubmissionStatus, score: float | None
) -> bool:
    """Whether applying with ``policy`` replaces the submission's result with the new one.

    A new result that ended in ``error`` (our failure, not the student's) never does.
    With ``higher`` the new result wins ties, so its feedback matches today's tests.
    """
    if status not in APPLICABLE:
        return False
    return policy == "new" or (score or 0.0) >= (old_score or 0.0)


@dataclass(frozen=True)
class ChangedTest:
    test: str
    old: str
    new: str


@dataclass(frozen=True)
class StudentDelta:
    user_id: int
    student: str
    # The submission that explains the change: the one that gave the old points for
    # a student who loses, else the one that gives the new points.
    submission_id: int
    old_points: float
    new_points: float
    delta: float
    changed_tests: list[ChangedTest]


@dataclass(frozen=True)
class DeltaSummary:
    students: int
    gainers: int
    losers: int
    unchanged: int
    mean_delta: float
    errors: int = 0


@dataclass(frozen=True)
class _Entry:
    submission_id: int
    old: float
    new: float
    old_tests: dict[str, str]
    new_tests: dict[str, str]


def changed_tests(old: dict[str, str], new: dict[str, str]) -> list[ChangedTest]:
    names = sorted(set(old) | set(new))
    changes = [ChangedTest(n, old.get(n, MISSING), new.get(n, MISSING)) for n in names]
    return [change for change in changes if change.old != change.new]


def _decide(user_id: int, label: str, entries: list[_Entry]) -> StudentDelta:
    old_points = round(max(e.old for e in entries), 2)
    new_points = round(max(e.new for e in entries), 2)
    if new_points < old_points:
        deciding = max((e for e in entries if round(e.old, 2) == old_points), key=_by_id)
    else:
        deciding = max((e for e in entries if round(e.new, 2) == new_points), key=_by_id)
    return StudentDelta(
        user_id=user_id,
        student=label,
        submission_id=deciding.submission_id,
        old_points=old_points,
        new_points=new_points,
        delta=round(new_points - old_points, 2),
        changed_tests=changed_tests(deciding.old_tests, deciding.new_tests),
    )


def _by_id(entry: _Entry) -> int:
    return entry.submission_id


def student_label(user_id: int, email: str | None) -> str:
    return email or f"Guest #{user_id}"


async def preview_deltas(
    session: AsyncSession, preview: Regrade, *, policy: Policy
) -> tuple[list[StudentDelta], DeltaSummary]:
    """Every student with a previewed submission, sorted by delta (losers first)."""
    rows = await session.execute(
        select(PreviewResult, Submission.user_id)
        .join(Submission, Submission.id == PreviewResult.submission_id)
        .where(PreviewResult.preview_id == preview.id)
    )
    entries: dict[int, list[_Entry]] = defaultdict(list)
    errors = 0
    for result, user_id in rows:
        errors += result.status is SubmissionStatus.error
        old = result.old_score or 0.0
        takes = takes_new_result(
            policy, old_score=result.old_score, status=result.status, score=result.score
        )
        entries[user_id].append(
            _Entry(
                submission_id=result.submission_id,
                old=old,
                new=(result.score or 0.0) if takes else old,
                old_tests=result.old_tests,
                new_tests=test_outcomes(result.feedback) if takes else result.old_tests,
            )
        )
    # Submissions graded since the preview started count the same before and after.
    previewed = select(PreviewResult.submission_id).where(PreviewResult.preview_id == preview.id)
    students = (
        select(Submission.user_id)
        .join(PreviewResult, PreviewResult.submission_id == Submission.id)
        .where(PreviewResult.preview_id == preview.id)
    )
    later = await session.execute(
        select(Submission.id, Submission.user_id, Submission.score).where(
            Submission.assignment_id == preview.assignment_id,
            Submission.user_id.in_(students),
            Submission.status.in_(FINAL_STATUSES),
            Submission.id.not_in(previewed),
        )
    )
    for submission_id, user_id, score in later:
        entries[user_id].append(_Entry(submission_id, score or 0.0, score or 0.0, {}, {}))
    users = await session.execute(select(User.id, User.email).where(User.id.in_(students)))
    emails = {user_id: email for user_id, email in users}
    deltas = [
        _decide(user_id, student_label(user_id, emails.get(user_id)), found)
        for user_id, found in entries.items()
    ]
    deltas.sort(key=lambda d: (d.delta, d.student))
    return deltas, _summarise(deltas, errors=errors)


def _summarise(deltas: list[StudentDelta], *, errors: int) -> DeltaSummary:
    total = sum(d.delta for d in deltas)
    return DeltaSummary(
        students=len(deltas),
        gainers=sum(1 for d in deltas if d.delta > 0),
        losers=sum(1 for d in deltas if d.delta < 0),
        unchanged=sum(1 for d in deltas if d.delta == 0),
        mean_delta=round(total / len(deltas), 2) if deltas else 0.0,
        errors=errors,
    )
