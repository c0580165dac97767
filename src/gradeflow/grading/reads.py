"""Per-user read models: progress (points, completed; cached here) and submission
lists (cached by their routes, as response bodies).

Every change of a submission writes an event row for its user, which purges the
user's namespace after it commits (``gradeflow.purges``), so a cached answer is
never older than the last commit seen.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts.identity import user_namespace
from gradeflow.grading import service
from gradeflow.infra.cache import Cache, cached


async def user_progress(session: AsyncSession, cache: Cache, *, user_id: int) -> dict[str, Any]:
    """``{"points": total of best scores, "completed": [assignment ids passed],
    "scores": [[assignment id, best score], ...]}`` (pairs: cached as JSON)."""

    async def load() -> dict[str, Any]:
        return {
            "points": await service.total_points(session, user_id=user_id),
            "completed": sorted(await service.completed_assignment_ids(session, user_id=user_id)),
            "scores": sorted((await service.best_scores(session, user_id=user_id)).items()),
        }

    progress: dict[str, Any] = await cached(cache, user_namespace(user_id), "progress", load)
    return progress


async def own_submissions(
    session: AsyncSession, *, user_id: int, assignment_id: int | None, limit: int
) -> list[dict[str, Any]]:
    rows = await service.list_submissions(
        session, user_id=user_id, assignment_id=assignment_id, limit=limit
    )
    return [service.describe_submission(s) for s in rows]
