"""Security end to end, keys: HTTP -> PostgreSQL -> devnet. Every protected route refuses a
missing or unknown key, scopes and subaccounts are enforced, a revoked key is refused at once, the
read rate is limited and a refused request persists nothing.

The router here, ``secured`` (conftest.py), runs on a database of its own (its kill switch and
limits must not touch the other end-to-end tests) with small request rates, so the limits can be
seen.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.fixtures.router import RouterProcess
from tests.router.e2e.security_kit import (
    READ_BURST,
    chain_orders,
    new_key,
    order_count,
    protected_routes,
)
from tests.router.e2e.test_orders import place

pytestmark = pytest.mark.e2e


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
