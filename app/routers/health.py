"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from app.deps import StorageReadyDep, SyncStatusServiceDep
from app.domain import sync_healthy_since, utc_text
from app.errors import CalbotError
from app.observability import METRICS_CONTENT_TYPE, metrics_text

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Answers 200 while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness",
    responses={
        200: {
            "description": "Storage is reachable. `stale_calendars` lists calendars (of every "
            "account, the longest stale first, at most 100) that have not synced successfully "
            "for more than twice SYNC_POLL_INTERVAL_SECONDS; they do not change the status.",
            "content": {
                "application/json": {
                    "example": {
                        "status": "ready",
                        "stale_calendars": [
                            {
                                "account_id": "acc_7d1e",
                                "calendar_id": "team@group.calendar.google.com",
                                "unhealthy_since": "2026-11-24T13:30:00Z",
                                "consecutive_failures": 5,
                            }
                        ],
                    }
                }
            },
        },
        503: {"description": "Storage is not reachable."},
    },
)
async def readyz(storage_ready: StorageReadyDep, sync_status: SyncStatusServiceDep) -> JSONResponse:
    """Answers 200 when storage is reachable, 503 otherwise. The body also names calendars
    whose syncs have been failing (or not running) for too long: worth a look, but not a
    reason to take the replica out of service."""
    if not await storage_ready():
        return JSONResponse({"status": "storage unavailable"}, status_code=503)
    try:
        stale = await sync_status.stale_calendars()
    except CalbotError:
        stale = []
    listed = []
    for health in stale:
        since = sync_healthy_since(health)
        listed.append(
            {
                "account_id": health.account_id,
                "calendar_id": health.calendar_id,
                "unhealthy_since": utc_text(since) if since else None,
                "consecutive_failures": health.consecutive_failures,
            }
        )
    return JSONResponse({"status": "ready", "stale_calendars": listed})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {METRICS_CONTENT_TYPE: {}}, "description": "Prometheus text."}},
)
async def metrics() -> Response:
    """Request, sync, notification, scheduling and launch counters and latency histograms."""
    return Response(metrics_text(), media_type=METRICS_CONTENT_TYPE)
