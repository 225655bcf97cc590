"""Probes and metrics: liveness, readiness and the Prometheus endpoint (none needs an API key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from dydx_router.api.deps import ServicesDep
from dydx_router.observability import metrics

router = APIRouter(tags=["probes"])


@router.get("/health", summary="Liveness: the process is up and its event loop answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: the database answers, the chain advances, the indexer keeps up",
    responses={503: {"description": "Not ready; `reasons` says why"}},
)
async def ready(services: ServicesDep) -> JSONResponse:
    checks: dict[str, Any] = await services.readiness()
    failing = [f"{name}: {why}" for name, why in checks.items() if why != "ok"]
    metrics.READY.set(0 if failing else 1)
    body: dict[str, Any] = {"status": "not_ready" if failing else "ready", "checks": checks}
    if failing:
        body["reasons"] = failing
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def prometheus_metrics() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
