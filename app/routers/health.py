"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from app.deps import StorageReadyDep
from app.observability import METRICS_CONTENT_TYPE, metrics_text

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """Answers 200 while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness",
    responses={503: {"description": "Storage is not reachable."}},
)
async def readyz(storage_ready: StorageReadyDep) -> JSONResponse:
    """Answers 200 when storage is reachable, 503 otherwise."""
    if await storage_ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "storage unavailable"}, status_code=503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {METRICS_CONTENT_TYPE: {}}, "description": "Prometheus text."}},
)
async def metrics() -> Response:
    """Request, sync, notification, scheduling and launch counters and latency histograms."""
    return Response(metrics_text(), media_type=METRICS_CONTENT_TYPE)
