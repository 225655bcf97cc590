"""Security end to end, pre-trade risk and the kill switch: HTTP -> PostgreSQL -> devnet.

The router here, ``secured`` (conftest.py), runs on a database of its own (its kill switch and
limits must not touch the other end-to-end tests).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.fixtures.router import RouterProcess
from tests.router.e2e.security_kit import (
    chain_orders,
    new_key,
    order_count,
)
from tests.router.e2e.test_orders import oracle, order_of, place, wait_for

pytestmark = pytest.mark.e2e


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
