"""The operator console: its page (``/console``, static files built from ``console/`` at the
repository root and shipped in the wheel), the health summary it shows (``GET
/v1/console/health``) and the two controls that act on one order or one position as an admin,
audited (``POST /v1/admin/orders/{id}/cancel``, ``POST /v1/admin/positions/{market}/close``).
docs/console.md.

The page holds no secret: the operator types an API key, kept in the page's memory only, and
sent in ``Authorization`` headers (the event stream is read with ``fetch``, not ``EventSource``,
which cannot send one), never in a URL.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from prometheus_client import REGISTRY
from pydantic import BaseModel, Field
from starlette.staticfiles import StaticFiles

from dydx_router.api.auth import AdminCaller, ReadCaller
from dydx_router.api.deps import Admin, ServicesDep
from dydx_router.api.errors import ApiError
from dydx_router.api.fields import StoredText, SubaccountNumber, Ticker
from dydx_router.api.schemas import OrderOut, Strict
from dydx_router.domain.access import Actor, ApiKey
from dydx_router.domain.order import OrderStatus
from dydx_router.observability import metrics

STATIC = Path(__file__).resolve().parent / "console_static"
# The page may load and connect to nothing but this origin: no CDN, no inline script, no frame.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

pages = APIRouter(include_in_schema=False)
router = APIRouter(tags=["console"])


def mount_console(app: Any) -> None:
    """The page's routes and its assets (absent from a checkout that never built them: then
    ``/console`` answers 404 ``console_not_built``)."""
    app.include_router(pages)
    app.include_router(router)
    assets = STATIC / "assets"
    if assets.is_dir():
        app.mount("/console/assets", StaticFiles(directory=assets), name="console-assets")


@pages.get("/console")
async def console_redirect() -> Response:
    # Relative asset URLs resolve against /console/, not /.
    return RedirectResponse("/console/", status_code=308)


@pages.get("/console/")
async def console_page() -> Response:
    index = STATIC / "index.html"
    if not index.is_file():
        raise ApiError(404, "console_not_built", "the console was not built: run `make console`")
    return FileResponse(index, media_type="text/html", headers={"Content-Security-Policy": CSP})


# --- health -------------------------------------------------------------------------------------
class BreakerOut(BaseModel):
    upstream: str
    endpoint: str
    state: str = Field(description="closed, half_open or open")


class ConsoleHealthOut(BaseModel):
    ready: bool
    checks: dict[str, str] = Field(description="The readiness probe's checks (`ok` or why not)")
    chain_height: int | None
    chain_height_age_s: float | None = Field(description="Seconds since the height advanced")
    indexer_height: int | None
    indexer_lag_blocks: int | None
    status_stream: str = Field(description="The indexer status stream's readiness check")
    status_stream_behind_s: float | None
    status_stream_backlog: int | None
    breakers: list[BreakerOut]
    orders_unknown: int | None = Field(description="Orders whose broadcast outcome is unknown")
    reconciler_backlog: int | None = Field(description="Non-final orders the reconciler checks")
    trading_state: str
    trading_state_reason: str


_BREAKER_NAMES = {v: k for k, v in metrics.BREAKER_VALUES.items()}


def _samples() -> tuple[dict[str, float], list[BreakerOut]]:
    """The process's own metrics, as ``/metrics`` shows them (gauges and the scrape-time
    collector): one value per unlabelled metric, and the circuit breakers."""
    values: dict[str, float] = {}
    breakers: list[BreakerOut] = []
    for family in REGISTRY.collect():
        for s in family.samples:
            name = s.name.removeprefix(metrics.PREFIX)
            if name == "circuit_breaker_state":
                state = _BREAKER_NAMES.get(int(s.value), "open")
                breakers.append(
                    BreakerOut(
                        upstream=s.labels.get("upstream", ""),
                        endpoint=s.labels.get("endpoint", ""),
                        state=state,
                    )
                )
            elif not s.labels:
                values[name] = s.value
    return values, breakers


def _int(values: dict[str, float], name: str) -> int | None:
    v = values.get(name)
    return None if v is None else int(v)


@router.get(
    "/v1/console/health",
    response_model=ConsoleHealthOut,
    summary="The service's health at a glance: readiness, chain, indexer, breakers, backlog",
)
async def console_health(caller: ReadCaller, services: ServicesDep) -> ConsoleHealthOut:
    checks: dict[str, str] = await services.readiness()
    values, breakers = _samples()
    controls = services.gate.controls if services.gate is not None else None
    return ConsoleHealthOut(
        ready=all(v == "ok" for v in checks.values()),
        checks=checks,
        chain_height=_int(values, "chain_height_blocks"),
        chain_height_age_s=values.get("chain_height_age_seconds"),
        indexer_height=_int(values, "indexer_height_blocks"),
        indexer_lag_blocks=_int(values, "indexer_lag_blocks"),
        status_stream=checks.get("status_stream", "not running"),
        status_stream_behind_s=values.get("status_stream_behind_seconds"),
        status_stream_backlog=_int(values, "status_stream_backlog_events"),
        breakers=breakers,
        orders_unknown=_int(values, "orders_unknown"),
        reconciler_backlog=_int(values, "reconciler_backlog_orders"),
        trading_state=controls.state.value if controls is not None else "UNKNOWN",
        trading_state_reason=controls.current.reason if controls is not None else "",
    )


# --- audited controls on one order / one position -----------------------------------------------
def _actor(request: Request) -> Actor:
    key: ApiKey = request.state.api_key
    return Actor(key.id, key.name)


class AdminCancelBody(Strict):
    reason: Annotated[StoredText, Field(max_length=500)] = ""


class AdminCloseBody(AdminCancelBody):
    subaccount: SubaccountNumber | None = None


@router.post(
    "/v1/admin/orders/{order_id}/cancel",
    response_model=OrderOut,
    tags=["admin"],
    summary="Cancel one order as an admin (audited: order_cancel_requested)",
)
async def admin_cancel_order(
    order_id: uuid.UUID,
    request: Request,
    caller: AdminCaller,
    service: Admin,
    body: Annotated[AdminCancelBody | None, Body()] = None,
) -> OrderOut:
    actor = _actor(request)
    reason = body.reason if body is not None else ""
    return OrderOut.of(await service.cancel_order(actor, caller, order_id, reason))


@router.post(
    "/v1/admin/positions/{market}/close",
    response_model=OrderOut,
    status_code=201,
    tags=["admin"],
    responses={202: {"description": "Persisted, but the broadcast outcome is unknown"}},
    summary="Close one position as an admin (audited: position_close_requested, then _placed)",
)
async def admin_close_position(
    market: Ticker,
    request: Request,
    caller: AdminCaller,
    service: Admin,
    body: Annotated[AdminCloseBody | None, Body()] = None,
) -> Response:
    actor = _actor(request)
    body = body or AdminCloseBody()
    result = await service.close_position(actor, caller, market, body.subaccount, body.reason)
    status = 202 if result.order.status is OrderStatus.UNKNOWN else 201
    return JSONResponse(OrderOut.of(result.order).model_dump(mode="json"), status_code=status)
