"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.deps import ContainerDep

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
async def readyz(container: ContainerDep) -> JSONResponse:
    """Answers 200 when storage is reachable, 503 otherwise."""
    if await container.database.ping():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "storage unavailable"}, status_code=503)
