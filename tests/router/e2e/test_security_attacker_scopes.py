"""The API over HTTP as an attacker, key scopes: with no key, a read key, a trade key, another
trader's key and a subaccount-restricted admin key, every refusal asserted (docs/security.md lists
each threat and the test that proves its defence). The router, ``attacked`` (conftest.py), runs the
safe defaults as shipped."""

from __future__ import annotations

import uuid

import pytest

from tests.fixtures.router import RouterProcess
from tests.router.e2e.security_kit import (
    anonymous,
    audit_rows,
    new_key,
    protected_routes,
    refused,
    resting_buy,
)
from tests.router.e2e.test_orders import order_of, place

pytestmark = pytest.mark.e2e


# --- 3-4. key scopes -----------------------------------------------------------------------------
def test_a_read_key_cannot_trade_cancel_or_administer(attacked: RouterProcess) -> None:
    reader = new_key(attacked, ["read"])
    trader = new_key(attacked, ["read", "trade"])
    with attacked.client(trader) as t:
        oid = resting_buy(t)
    with attacked.client(reader) as r:
        order = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
        refused(place(r, order), 403, "insufficient_scope")
        refused(r.delete(f"/v1/orders/{oid}"), 403, "insufficient_scope")
        refused(r.post("/v1/orders/cancel", json={"all": True}), 403, "insufficient_scope")
        refused(r.post("/v1/positions/ETH-USD/close"), 403, "insufficient_scope")
        refused(r.get("/v1/admin/api-keys"), 403, "insufficient_scope")
        refused(r.get("/v1/admin/audit"), 403, "insufficient_scope")
        # Without orders:all a key sees only the orders it placed: none.
        refused(r.get(f"/v1/orders/{oid}"), 404, "order_not_found")
        assert oid not in [o["id"] for o in r.get("/v1/orders").json()["orders"]]


def test_every_admin_route_refuses_a_read_or_a_trade_key(attacked: RouterProcess) -> None:
    # Enumerated from the app: an admin route added later cannot be forgotten.
    admin_routes = [(m, p) for m, p in protected_routes() if p.startswith("/v1/admin")]
    assert len(admin_routes) >= 12, admin_routes
    for scopes in (["read"], ["trade"], ["read", "trade", "orders:all"]):
        with attacked.client(new_key(attacked, scopes)) as k:
            for method, path in admin_routes:
                body = refused(k.request(method, path, json={}), 403, "insufficient_scope")
                assert body["error"]["details"] == {"required_scope": "admin"}, (method, path)


def test_keys_see_and_cancel_only_their_own_orders(attacked: RouterProcess) -> None:
    alice = new_key(attacked, ["read", "trade"])
    mallory = new_key(attacked, ["read", "trade"])
    auditor = new_key(attacked, ["read", "orders:all"])
    with attacked.client(alice) as a, attacked.client(mallory) as m:
        oid = resting_buy(a)
        mine = resting_buy(m)
        refused(m.get(f"/v1/orders/{oid}"), 404, "order_not_found")
        listed = [o["id"] for o in m.get("/v1/orders", params={"limit": 500}).json()["orders"]]
        assert oid not in listed and mine in listed
        refused(m.delete(f"/v1/orders/{oid}"), 404, "order_not_found")
        refused(m.post("/v1/orders/cancel", json={"ids": [oid]}), 404, "order_not_found")
        everything = m.post("/v1/orders/cancel", json={"all": True})
        assert everything.status_code == 200, everything.text
        assert [o["id"] for o in everything.json()["orders"]] == [mine]
        market = m.post("/v1/orders/cancel", json={"market": "ETH-USD"})
        assert oid not in [o["id"] for o in market.json()["orders"]]
        assert order_of(a, oid)["status"] == "OPEN"  # alice's order untouched
        with attacked.client(auditor) as au:
            assert order_of(au, oid)["id"] == oid  # orders:all reads every order
            refused(au.delete(f"/v1/orders/{oid}"), 403, "insufficient_scope")
        assert a.delete(f"/v1/orders/{oid}").status_code == 200


def test_a_restricted_admin_acts_only_inside_its_subaccounts(attacked: RouterProcess) -> None:
    boss = new_key(attacked, ["read", "trade", "admin"], [1])
    with attacked.client() as root:
        root_id = root.get("/v1/admin/api-keys").json()["api_keys"][0]["id"]
        elsewhere = resting_buy(root)  # in subaccount 0
    with attacked.client(boss) as b:
        # Keys: only those inside its subaccounts are listed or revocable.
        listed = b.get("/v1/admin/api-keys").json()["api_keys"]
        assert listed and all(k["subaccounts"] and set(k["subaccounts"]) <= {1} for k in listed)
        refused(b.delete(f"/v1/admin/api-keys/{root_id}"), 404, "api_key_not_found")
        refused(
            b.post("/v1/admin/api-keys", json={"name": "wide", "scopes": ["trade"]}),
            403,
            "subaccount_forbidden",
        )
        inner = b.post(
            "/v1/admin/api-keys", json={"name": "n", "scopes": ["read"], "subaccounts": [1]}
        )
        assert inner.status_code == 201, inner.text
        assert b.delete(f"/v1/admin/api-keys/{inner.json()['id']}").status_code == 200
        # Global actions need an unrestricted admin.
        for method, path, body in [
            ("PUT", "/v1/admin/risk-limits/global", {"max_order_size": "1"}),
            ("PUT", "/v1/admin/risk-limits/markets/BTC-USD", {"max_order_size": "1"}),
            ("DELETE", "/v1/admin/risk-limits/markets/BTC-USD", None),
            ("POST", "/v1/admin/trading-state", {"state": "HALTED", "cancel_open_orders": True}),
            ("GET", "/v1/admin/audit", None),
        ]:
            refused(b.request(method, path, json=body), 403, "admin_scope_restricted")
        # A key outside its subaccounts has no agent limits it may read, set or delete.
        limits = f"/v1/admin/api-keys/{root_id}/limits"
        refused(b.get(limits), 404, "api_key_not_found")
        refused(b.put(limits, json={"max_open_orders": 1}), 404, "api_key_not_found")
        refused(b.delete(limits), 404, "api_key_not_found")
        # The console's controls: another key's order, another subaccount's position.
        refused(b.post(f"/v1/admin/orders/{elsewhere}/cancel"), 404, "order_not_found")
        refused(
            b.post("/v1/admin/positions/ETH-USD/close", json={"subaccount": 0}),
            403,
            "subaccount_forbidden",
        )
        # Orders: its subaccounts only.
        order = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
        refused(place(b, order), 403, "subaccount_forbidden")
        refused(place(b, order | {"subaccount": 0}), 403, "subaccount_forbidden")
        refused(b.get("/v1/positions", params={"subaccount": 0}), 403, "subaccount_forbidden")
    with attacked.client() as root:
        assert root.get("/v1/admin/trading-state").json()["state"] == "ACTIVE"
        assert order_of(root, elsewhere)["status"] == "OPEN"
        assert root.delete(f"/v1/orders/{elsewhere}").status_code == 200


def test_a_restricted_admins_refused_close_writes_nothing_to_the_audit_log(
    attacked: RouterProcess,
) -> None:
    # The permanent log records what was done or attempted within a key's reach: a close
    # outside it is refused before anything is written (before: position_close_requested and
    # position_close_failed rows for a 403).
    boss = new_key(attacked, ["read", "trade", "admin"], [1])
    with attacked.client(boss) as b:
        before = audit_rows(attacked)
        for body in ({"subaccount": 0}, None):  # named, and the default subaccount (0)
            refused(
                b.post("/v1/admin/positions/BTC-USD/close", json=body),
                403,
                "subaccount_forbidden",
            )
        assert audit_rows(attacked) == before
        # Inside its reach the attempt is audited, intent and outcome (no position here).
        refused(
            b.post("/v1/admin/positions/BTC-USD/close", json={"subaccount": 1}), 404, "no_position"
        )
        assert audit_rows(attacked) == before + 2


def test_stored_orders_carry_their_key_and_keyless_ones_stay_hidden(
    attacked: RouterProcess,
) -> None:
    # An order stored before keys were recorded (api_key_id NULL) is visible to orders:all and
    # unrestricted admins only.
    import asyncio

    import asyncpg

    from dydx_router.store.database import asyncpg_dsn

    trader = new_key(attacked, ["read", "trade"])
    with attacked.client(trader) as c:
        oid = resting_buy(c)

    async def orphan() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(attacked.database_url))
        try:
            await conn.execute("UPDATE orders SET api_key_id = NULL WHERE id = $1", uuid.UUID(oid))
        finally:
            await conn.close()

    asyncio.run(orphan())
    with attacked.client(trader) as c, attacked.client() as admin:
        refused(c.get(f"/v1/orders/{oid}"), 404, "order_not_found")
        assert order_of(admin, oid)["id"] == oid
        assert admin.delete(f"/v1/orders/{oid}").status_code == 200


PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "error"}


def test_no_key_is_refused_everywhere_in_the_same_shape(attacked: RouterProcess) -> None:
    with anonymous(attacked) as anon:
        spec = anon.get("/openapi.json").json()
        for path, operations in spec["paths"].items():
            if path in {"/health", "/ready", "/metrics"}:
                continue
            concrete = path.replace("{market}", "BTC-USD").replace("{order_id}", str(uuid.uuid4()))
            concrete = concrete.replace("{key_id}", str(uuid.uuid4()))
            for method in operations:
                resp = anon.request(method.upper(), concrete, json={})
                assert resp.status_code in (401, 422), (method, path, resp.text)
                # RFC 9457 problem details with our code, and the error object (api/problem.py).
                assert set(resp.json()) == PROBLEM_FIELDS, resp.text
                assert resp.headers["content-type"] == "application/problem+json"
