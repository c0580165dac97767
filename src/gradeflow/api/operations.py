"""Routes for operators and load balancers: liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
from typing import Literal

import structlog
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from sqlalchemy import text

from gradeflow.api.schemas import errors
from gradeflow.deps import AppRuntime
from gradeflow.errors import Unavailable
from gradeflow.grading.messages import QUEUES
from gradeflow.runtime import Runtime

log = structlog.get_logger(__name__)
router = APIRouter(tags=["operations"])

CheckState = Literal["ok", "unreachable"]


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ok"] = "ok"
    checks: dict[str, CheckState] = Field(
        description="Each dependency (database, queue, cache) and whether it answered."
    )


async def readiness_checks(runtime: Runtime) -> dict[str, CheckState]:
    checks: dict[str, CheckState] = {}
    try:
        async with asyncio.timeout(2):
            async with runtime.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readyz.database_down", error=str(exc))
        checks["database"] = "unreachable"
    checks["queue"] = "ok" if await runtime.queue.ping() else "unreachable"
    checks["cache"] = "ok" if await runtime.pubsub.ping() else "unreachable"
    return checks


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Liveness:
    return Liveness()


@router.get(
    "/readyz",
    summary="Readiness: database, queue and cache answer",
    responses=errors(503),
)
async def readyz(runtime: AppRuntime) -> Readiness:
    checks = await readiness_checks(runtime)
    failing = [name for name, state in checks.items() if state != "ok"]
    if failing:
        raise Unavailable(f"Not ready: {', '.join(failing)} unreachable.", details=checks)
    return Readiness(checks=checks)


@router.get(
    "/metrics",
    summary="Prometheus metrics of this process",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}
    },
)
async def metrics(runtime: AppRuntime) -> Response:
    for queue in QUEUES:
        depth = await runtime.queue.depth(queue)
        runtime.metrics.queue_depth.labels(queue).set(-1 if depth is None else depth)
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)
