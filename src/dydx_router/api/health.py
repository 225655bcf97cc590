"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["probes"])


@router.get("/health", summary="Liveness: the process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: the database (and upstreams) are reachable",
    responses={503: {"description": "Not ready; `reasons` says why"}},
)
async def ready(request: Request) -> JSONResponse:
    container = request.app.state.container
    checks: dict[str, Any] = await container.readiness()
    failing = [f"{name}: {why}" for name, why in checks.items() if why != "ok"]
    body: dict[str, Any] = {"status": "not_ready" if failing else "ready", "checks": checks}
    if failing:
        body["reasons"] = failing
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
