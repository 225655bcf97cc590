"""Helpers shared by the security end-to-end modules (test_security*.py): keys, refusals, the
routes a key guards, and the settings the routers of conftest.py run with."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from fastapi.routing import APIRoute
from starlette.routing import Route

from dydx_router.asgi import create_app
from dydx_router.config import load_settings
from dydx_router.store.database import asyncpg_dsn
from tests.fixtures.router import RouterProcess
from tests.router.e2e.test_orders import oracle, order_of, place, wait_for

# The only routes that answer without a key (the list, plus the API's own description).
PUBLIC = {
    "/health",
    "/ready",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    # The operator console's page: static files, no data (docs/console.md); its data routes
    # need a key like any other.
    "/console",
    "/console/",
}
READ_BURST = 30

SHIPPED_DEFAULTS = {
    # The fixture widens these for the other tests; here they are as shipped (config.py).
    "DYDX_ROUTER_DEFAULT_PRICE_BAND_BPS": "1000",
    "DYDX_ROUTER_DEFAULT_MAX_SLIPPAGE_BPS": "500",
    "DYDX_ROUTER_DEFAULT_MAX_ORDER_NOTIONAL": "100000",
}
AUTH_BURST = 5
SMALL_AUTH_ALLOWANCE = {
    "DYDX_ROUTER_AUTH_FAILURES_BURST": str(AUTH_BURST),
    "DYDX_ROUTER_AUTH_FAILURES_PER_S": "0.01",
}
MAX_CONCURRENCY = 16  # the smallest the settings take
REFUSAL_BUDGET_MS = 5.0


def new_key(r: RouterProcess, scopes: list[str], subaccounts: list[int] | None = None) -> str:
    body: dict[str, Any] = {"name": f"k-{uuid.uuid4().hex[:6]}", "scopes": scopes}
    if subaccounts is not None:
        body["subaccounts"] = subaccounts
    with r.client() as admin:
        resp = admin.post("/v1/admin/api-keys", json=body)
    assert resp.status_code == 201, resp.text
    key: str = resp.json()["key"]
    return key


def anonymous(r: RouterProcess) -> httpx.Client:
    return httpx.Client(base_url=r.url, timeout=30)


def refused(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["error"]["code"] == code, body
    return body


def server_ms(resp: httpx.Response) -> float:
    """The router's own time for the request (Server-Timing: total)."""
    timing = resp.headers["server-timing"]
    return float(timing.split("total;dur=")[1].split(",")[0])


def resting_buy(c: httpx.Client, market: str = "ETH-USD") -> str:
    price = (oracle(c, market) * Decimal("0.95")).quantize(Decimal("0.1"))
    resp = place(
        c, {"market": market, "side": "BUY", "type": "LIMIT", "size": "0.01", "price": str(price)}
    )
    assert resp.status_code == 201, resp.text
    oid: str = resp.json()["id"]
    wait_for(lambda: order_of(c, oid), lambda o: o["status"] == "OPEN")
    return oid


def audit_rows(r: RouterProcess) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(asyncpg_dsn(r.database_url))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM audit_log"))
        finally:
            await conn.close()

    return asyncio.run(count())


def order_count(r: RouterProcess) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(asyncpg_dsn(r.database_url))
        try:
            n: int = await conn.fetchval("SELECT count(*) FROM orders")
            return n
        finally:
            await conn.close()

    return asyncio.run(count())


def chain_orders(r: RouterProcess) -> int:
    return len(asyncio.run(r.devnet.accepted_orders(r.address)))


def app_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """Every (path, methods) the app serves, through included routers at any depth."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:  # FastAPI's included router
            yield from app_routes(original.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute | Route):
            yield prefix + route.path, set(route.methods or ())


def protected_routes() -> list[tuple[str, str]]:
    app = create_app(load_settings())
    out: list[tuple[str, str]] = []
    for template, methods in app_routes(app.routes):
        if template in PUBLIC:
            continue
        path = template.replace("{market}", "BTC-USD")
        path = re.sub(r"\{[a-z_]*id\}", str(uuid.uuid4()), path)
        assert "{" not in path, f"no sample value for {template}"
        out += [(method, path) for method in sorted(methods - {"HEAD"})]
    return out
