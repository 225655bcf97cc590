"""Security and pre-trade risk end to end: HTTP -> PostgreSQL -> devnet.

The router here runs on a database of its own (its kill switch and limits must not touch the other
end-to-end tests) with small request rates, so the limits can be seen.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from dydx_router.asgi import create_app
from dydx_router.config import load_settings
from dydx_router.store.database import asyncpg_dsn
from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess, start_router, stop_router
from tests.router.e2e.test_orders import oracle, order_of, place, wait_for

pytestmark = pytest.mark.e2e

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


@pytest.fixture(scope="module")
def secured(devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    with fresh_database(pg_server_url, "security") as url:
        r = start_router(
            devnet,
            url,
            "security",
            {
                "DYDX_ROUTER_RATE_LIMIT_READ_PER_S": "1",
                "DYDX_ROUTER_RATE_LIMIT_READ_BURST": str(READ_BURST),
                "DYDX_ROUTER_RATE_LIMIT_ADMIN_BURST": "1000",
                "DYDX_ROUTER_RATE_LIMIT_ADMIN_PER_S": "100",
            },
        )
        try:
            yield r
        finally:
            stop_router(r)


def new_key(r: RouterProcess, scopes: list[str], subaccounts: list[int] | None = None) -> str:
    body: dict[str, Any] = {"name": f"test-{uuid.uuid4().hex[:6]}", "scopes": scopes}
    if subaccounts is not None:
        body["subaccounts"] = subaccounts
    with r.client() as admin:
        resp = admin.post("/v1/admin/api-keys", json=body)
    assert resp.status_code == 201, resp.text
    key: str = resp.json()["key"]
    return key


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


def test_every_protected_route_refuses_a_missing_or_unknown_key(secured: RouterProcess) -> None:
    routes = protected_routes()
    assert len(routes) >= 15  # orders, positions, markets and every admin route
    for method, path in routes:
        resp = httpx.request(method, secured.url + path, json={}, timeout=10)
        assert resp.status_code == 401, (method, path, resp.text)
        assert resp.json()["error"]["code"] == "unauthenticated"
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        bogus = {"Authorization": "Bearer dxr_" + "x" * 43}
        resp = httpx.request(method, secured.url + path, json={}, headers=bogus, timeout=10)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
    # Only the probes (and the API description) are open.
    for path in ("/health", "/ready", "/metrics"):
        assert httpx.get(secured.url + path, timeout=10).status_code == 200


def test_read_key_cannot_trade_or_administer(secured: RouterProcess) -> None:
    key = new_key(secured, ["read"])
    with secured.client(key) as c:
        assert c.get("/v1/markets").status_code == 200
        assert c.get("/v1/orders").status_code == 200
        before = order_count(secured)
        resp = place(c, {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"})
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == "insufficient_scope"
        assert resp.json()["error"]["details"] == {"required_scope": "trade"}
        assert c.post("/v1/positions/BTC-USD/close").status_code == 403
        assert c.delete(f"/v1/orders/{uuid.uuid4()}").status_code == 403
        assert c.get("/v1/admin/api-keys").status_code == 403
        assert c.post("/v1/admin/trading-state", json={"state": "HALTED"}).status_code == 403
        assert order_count(secured) == before


def test_subaccount_allow_list(secured: RouterProcess) -> None:
    key = new_key(secured, ["read", "trade"], subaccounts=[1])
    with secured.client(key) as c:
        before = order_count(secured)
        body = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
        resp = place(c, body | {"subaccount": 0})
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "subaccount_forbidden"
        resp = place(c, body)  # the default subaccount (0) is not on the list either
        assert resp.status_code == 403
        assert c.get("/v1/positions", params={"subaccount": 0}).status_code == 403
        assert c.get("/v1/positions", params={"subaccount": 1}).status_code == 200
        assert order_count(secured) == before
    # An admin key limited to subaccount 1 cannot mint a key that reaches further.
    limited_admin = new_key(secured, ["admin"], subaccounts=[1])
    with secured.client(limited_admin) as c:
        resp = c.post("/v1/admin/api-keys", json={"name": "wider", "scopes": ["trade"]})
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "subaccount_forbidden"
        ok = c.post(
            "/v1/admin/api-keys", json={"name": "same", "scopes": ["read"], "subaccounts": [1]}
        )
        assert ok.status_code == 201


def test_revoked_key_is_refused_at_once_and_keys_are_shown_once(secured: RouterProcess) -> None:
    with secured.client() as admin:
        created = admin.post("/v1/admin/api-keys", json={"name": "short-lived", "scopes": ["read"]})
        assert created.status_code == 201
        body = created.json()
        key, key_id = body["key"], body["id"]
        assert key.startswith("dxr_") and len(key) >= 40 and body["key_prefix"] == key[:10]
        with secured.client(key) as c:
            assert c.get("/v1/markets").status_code == 200  # now cached by the router
            revoked = admin.delete(f"/v1/admin/api-keys/{key_id}")
            assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
            resp = c.get("/v1/markets")
            assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
        listed = admin.get("/v1/admin/api-keys").json()["api_keys"]
        mine = next(k for k in listed if k["id"] == key_id)
        assert "key" not in mine and mine["revoked_at"] is not None
        assert key not in admin.get("/v1/admin/api-keys").text
        assert admin.delete(f"/v1/admin/api-keys/{uuid.uuid4()}").status_code == 404


def test_the_request_after_the_burst_gets_429_with_retry_after(secured: RouterProcess) -> None:
    key = new_key(secured, ["read"])
    with secured.client(key) as c:
        statuses = [c.get("/v1/markets").status_code for _ in range(READ_BURST)]
        assert statuses == [200] * READ_BURST
        over = c.get("/v1/markets")
        assert over.status_code == 429, over.text
        assert over.json()["error"]["code"] == "rate_limited"
        assert int(over.headers["Retry-After"]) >= 1
    # Buckets are per key: another key is unaffected.
    with secured.client(new_key(secured, ["read"])) as other:
        assert other.get("/v1/markets").status_code == 200


def test_rejected_requests_persist_nothing(secured: RouterProcess) -> None:
    good = {"market": "BTC-USD", "side": "BUY", "type": "LIMIT", "size": "0.001", "price": "1000"}
    bad_bodies: list[tuple[Any, str]] = [
        (good | {"leverage": 10}, "invalid_request"),  # unknown field
        (good | {"size": 0.001}, "invalid_request"),  # a float
        (good | {"side": "buy"}, "invalid_request"),  # enums are exact
        (good | {"size": "0." + "0" * 18 + "1"}, "invalid_request"),  # too many places
        (good | {"price": "1" * 40}, "invalid_request"),  # too large
        (good | {"market": "BTC-USD; DROP TABLE orders"}, "invalid_request"),
        (good | {"size": "0.0001234"}, "invalid_size_step"),  # off the step: a domain code
        (good | {"market": "NOPE-USD"}, "unknown_market"),
        # PostgreSQL text cannot hold a NUL: refused up front, not a 500 from the database
        (good | {"client_order_id": "a\x00b"}, "invalid_request"),
    ]
    before_db, before_chain = order_count(secured), chain_orders(secured)
    with secured.client(new_key(secured, ["read", "trade"])) as c:
        for body, code in bad_bodies:
            resp = place(c, body)
            assert 400 <= resp.status_code < 500, (body, resp.text)
            assert resp.json()["error"]["code"] == code, (body, resp.text)
        huge = c.post(
            "/v1/orders",
            content=b'{"market": "BTC-USD", "pad": "' + b"x" * 70_000 + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"
        broken = c.post(
            "/v1/orders", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert broken.status_code == 422
    assert order_count(secured) == before_db and chain_orders(secured) == before_chain


def set_limits(admin: httpx.Client, scope: str, **limits: Any) -> dict[str, Any]:
    path = (
        "/v1/admin/risk-limits/global" if scope == "*" else f"/v1/admin/risk-limits/markets/{scope}"
    )
    resp = admin.put(path, json=limits)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def breach_code(c: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    resp = place(c, body)
    assert resp.status_code == 400, resp.text
    error: dict[str, Any] = resp.json()["error"]
    return error


def test_risk_limits_refuse_orders_before_they_reach_the_chain(secured: RouterProcess) -> None:
    trader = new_key(secured, ["read", "trade"])
    with secured.client() as admin, secured.client(trader) as c:
        try:
            policy = set_limits(admin, "*", max_order_size="0.01", max_slippage_bps=200)
            assert policy["global"]["max_order_size"] == "0.01"
            btc = set_limits(admin, "BTC-USD", max_order_notional="200", price_band_bps=1000)
            assert btc["effective"]["BTC-USD"]["max_order_size"] == "0.01"  # inherited
            before_db, before_chain = order_count(secured), chain_orders(secured)
            eth = oracle(c, "ETH-USD")
            market = {"side": "BUY", "type": "MARKET"}

            err = breach_code(c, market | {"market": "ETH-USD", "size": "0.02"})
            assert err["code"] == "risk_max_order_size"
            assert err["details"]["limit_value"] == "0.01" and err["details"]["scope"] == "*"
            err = breach_code(
                c, market | {"market": "ETH-USD", "size": "0.001", "max_slippage_bps": 300}
            )
            assert err["code"] == "risk_max_slippage_bps"
            err = breach_code(c, market | {"market": "BTC-USD", "size": "0.01"})
            assert err["code"] == "risk_max_order_notional"  # ~ 0.01 x 28,700 > 200
            assert err["details"]["scope"] == "BTC-USD" and err["details"]["limit_value"] == "200"
            far = (oracle(c, "BTC-USD") * Decimal("0.8")).quantize(Decimal(1))
            err = breach_code(
                c,
                {"market": "BTC-USD", "side": "BUY", "type": "LIMIT", "size": "0.001"}
                | {"price": str(far)},
            )
            assert err["code"] == "risk_price_band_bps"
            # Nothing was stored or sent for any of them.
            assert order_count(secured) == before_db and chain_orders(secured) == before_chain

            # Open orders and position: a resting order counts until it is gone.
            set_limits(admin, "*", max_open_orders=1)
            rest = {"market": "ETH-USD", "side": "BUY", "type": "LIMIT", "size": "0.01"}
            low = str((eth / 2).quantize(Decimal("0.1")))
            first = place(c, rest | {"price": low})
            assert first.status_code == 201, first.text
            err = breach_code(c, rest | {"price": low})
            assert err["code"] == "risk_max_open_orders"
            assert c.delete(f"/v1/orders/{first.json()['id']}").status_code == 200
            wait_for(lambda: order_of(c, first.json()["id"]), lambda o: o["status"] == "CANCELED")

            set_limits(admin, "*", max_position_notional="10")
            err = breach_code(c, market | {"market": "ETH-USD", "size": "0.01"})  # ~ 18 USD
            assert err["code"] == "risk_max_position_notional"
        finally:
            set_limits(admin, "*")
            admin.delete("/v1/admin/risk-limits/markets/BTC-USD")
        assert admin.get("/v1/admin/risk-limits").json()["markets"] == {}
        ok = place(c, {"market": "ETH-USD", "side": "BUY", "type": "MARKET", "size": "0.02"})
        assert ok.status_code == 201, ok.text
        actions = [e["action"] for e in admin.get("/v1/admin/audit").json()["entries"]]
        assert actions.count("risk_limits_set") >= 4 and "risk_limits_deleted" in actions


def set_state(admin: httpx.Client, state: str, **extra: Any) -> dict[str, Any]:
    resp = admin.post("/v1/admin/trading-state", json={"state": state, "reason": "test"} | extra)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_kill_switch_halts_cancels_and_reduces(secured: RouterProcess) -> None:
    trader = new_key(secured, ["read", "trade"])
    with secured.client() as admin, secured.client(trader) as c:
        try:
            # A position to reduce later, and a resting order for the halt to cancel.
            buy = place(c, {"market": "ETH-USD", "side": "BUY", "type": "MARKET", "size": "0.01"})
            assert buy.status_code == 201, buy.text
            wait_for(lambda: order_of(c, buy.json()["id"]), lambda o: o["status"] == "FILLED")
            low = str((oracle(c, "ETH-USD") / 2).quantize(Decimal("0.1")))
            resting = place(
                c,
                {"market": "ETH-USD", "side": "BUY", "type": "LIMIT", "size": "0.01", "price": low},
            )
            rid = resting.json()["id"]
            wait_for(lambda: order_of(c, rid), lambda o: o["status"] == "OPEN")

            halted = set_state(admin, "HALTED", cancel_open_orders=True)
            assert halted["state"] == "HALTED" and rid in halted["canceled_orders"]
            before_db = order_count(secured)
            refused = place(
                c, {"market": "ETH-USD", "side": "BUY", "type": "MARKET", "size": "0.01"}
            )
            assert refused.status_code == 409
            assert refused.json()["error"]["code"] == "trading_halted"
            close = c.post("/v1/positions/ETH-USD/close")
            assert close.status_code == 409  # halted means no new order at all
            assert order_count(secured) == before_db
            wait_for(lambda: order_of(c, rid), lambda o: o["status"] == "CANCELED")
            assert admin.get("/v1/admin/trading-state").json()["state"] == "HALTED"

            set_state(admin, "REDUCE_ONLY")
            more = place(c, {"market": "ETH-USD", "side": "BUY", "type": "MARKET", "size": "0.01"})
            assert more.status_code == 409
            assert more.json()["error"]["code"] == "trading_reduce_only"
            closed = c.post("/v1/positions/ETH-USD/close")
            assert closed.status_code == 201, closed.text
            assert closed.json()["reduce_only"] is True
        finally:
            set_state(admin, "ACTIVE")
        again = place(c, {"market": "ETH-USD", "side": "BUY", "type": "MARKET", "size": "0.01"})
        assert again.status_code == 201, again.text
        entries = admin.get("/v1/admin/audit", params={"limit": 20}).json()["entries"]
        states = [e["target"] for e in entries if e["action"] == "trading_state_set"]
        assert states[:3] == ["ACTIVE", "REDUCE_ONLY", "HALTED"]  # newest first
        assert any(e["action"] == "open_orders_canceled" for e in entries)
        # Each kill-switch cancel is audited in the transaction that marked it requested.
        requested = [
            i
            for e in entries
            if e["action"] == "orders_cancel_requested"
            for i in e["details"]["order_ids"]
        ]
        assert rid in requested
        assert all(e["actor_key_id"] is not None for e in entries[:3])


def test_admin_bodies_are_strict(secured: RouterProcess) -> None:
    with secured.client() as admin:
        for body in (
            {"state": "halted"},
            {"state": "HALTED", "extra": 1},
            {"state": "PAUSED"},
            {"state": "HALTED", "reason": "nul \x00 inside"},  # found by the fuzz: was a 500
        ):
            resp = admin.post("/v1/admin/trading-state", json=body)
            assert resp.status_code == 422, resp.text
        assert (
            admin.put("/v1/admin/risk-limits/global", json={"max_order_size": 1}).status_code == 422
        )
        assert (
            admin.put("/v1/admin/risk-limits/global", json={"max_open_orders": -1}).status_code
            == 422
        )
        unknown = admin.put("/v1/admin/risk-limits/markets/NOPE-USD", json={})
        assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_market"
        bad_scope = admin.post("/v1/admin/api-keys", json={"name": "x", "scopes": ["root"]})
        assert bad_scope.status_code == 422
        assert admin.get("/v1/admin/trading-state").json()["state"] == "ACTIVE"


def test_keys_from_the_command_line_are_audited(secured: RouterProcess) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    env["DATABASE_URL"] = secured.database_url
    done = subprocess.run(
        [sys.executable, "-m", "dydx_router.cli", "api-keys", "create", "--name", "from-cli",
         "--scopes", "read"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    key = next(line.split()[-1] for line in done.stdout.splitlines() if line.startswith("key:"))
    with secured.client(key) as c:
        assert c.get("/v1/markets").status_code == 200
    with secured.client() as admin:
        entries = admin.get("/v1/admin/audit").json()["entries"]
    cli = next(e for e in entries if e["action"] == "api_key_created" and e["actor"] == "cli")
    assert cli["details"]["name"] == "from-cli" and cli["actor_key_id"] is None
    assert key not in str(entries)
