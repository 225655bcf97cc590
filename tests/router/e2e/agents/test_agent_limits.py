"""Per-key agent limits and the caller's reason, over HTTP against the router on the devnet
(PostgreSQL, real sockets): set by the admin routes and by the CLI, in force at once, every
refusal with its code and nothing stored; the reason stored with the order, in its events and in
the audit log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from dydx_router.store.database import asyncpg_dsn
from tests.fixtures.router import ROOT, RouterProcess
from tests.router.e2e.test_events import Sse
from tests.router.e2e.test_orders import oracle, order_of, place, wait_for

pytestmark = pytest.mark.e2e


def new_trader(r: RouterProcess) -> tuple[str, str]:
    """A read+trade key: (its id, the key)."""
    with r.client() as admin:
        resp = admin.post(
            "/v1/admin/api-keys",
            json={"name": f"agent-{uuid.uuid4().hex[:6]}", "scopes": ["read", "trade"]},
        )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return body["id"], body["key"]


def put_limits(admin: httpx.Client, key_id: str, **limits: Any) -> dict[str, Any]:
    resp = admin.put(f"/v1/admin/api-keys/{key_id}/limits", json=limits)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def refusal(client: httpx.Client, body: dict[str, Any], **params: str) -> dict[str, Any]:
    resp = client.post("/v1/orders", json=body, params=params)
    assert resp.status_code == 400, resp.text
    error: dict[str, Any] = resp.json()["error"]
    return error


async def _fetch(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def rows(r: RouterProcess, sql: str, *args: Any) -> list[asyncpg.Record]:
    return asyncio.run(_fetch(r.database_url, sql, *args))


def far_bid(client: httpx.Client) -> dict[str, Any]:
    """A resting ETH-USD bid at half the oracle price: stays OPEN until canceled."""
    low = (oracle(client, "ETH-USD") / 2).quantize(Decimal("0.1"))
    return {"market": "ETH-USD", "side": "BUY", "type": "LIMIT", "size": "0.01",
            "price": str(low), "good_til_seconds": 3600}  # fmt: skip


def test_agent_limits_refuse_with_their_codes_and_change_at_once(router: RouterProcess) -> None:
    key_id, key = new_trader(router)
    with router.client() as admin, router.client(key) as agent:
        out = put_limits(admin, key_id, allowed_markets=["ETH-USD"], max_order_notional="100")
        assert out["limits"]["allowed_markets"] == ["ETH-USD"]
        assert out["limits"]["max_order_notional"] == "100"
        bad = admin.put(f"/v1/admin/api-keys/{key_id}/limits", json={"allowed_markets": ["X-USD"]})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "unknown_market"
        missing = admin.put(f"/v1/admin/api-keys/{uuid.uuid4()}/limits", json={})
        assert missing.status_code == 404
        before = len(rows(router, "SELECT id FROM orders WHERE api_key_id = $1", uuid.UUID(key_id)))

        market = {"side": "BUY", "type": "MARKET"}
        err = refusal(agent, market | {"market": "BTC-USD", "size": "0.001"})
        assert err["code"] == "agent_market_not_allowed"
        assert err["details"]["allowed_markets"] == ["ETH-USD"]
        # ~0.1 x 1,800 USD > 100; a preview says so as well.
        err = refusal(agent, market | {"market": "ETH-USD", "size": "0.1"})
        assert err["code"] == "agent_max_order_notional" and err["details"]["limit_value"] == "100"
        err = refusal(agent, market | {"market": "ETH-USD", "size": "0.1"}, dry_run="true")
        assert err["code"] == "agent_max_order_notional"
        # Another key is not limited by this key's limits.
        assert place(admin, market | {"market": "BTC-USD", "size": "0.001"}).status_code == 201
        account = agent.get("/v1/account").json()["api_key"]
        assert account["agent_limits"]["allowed_markets"] == ["ETH-USD"]
        assert account["agent_limits"]["max_open_orders"] is None

        # Replaced: the next request meets the new limits (the old ones are gone).
        put_limits(admin, key_id, max_open_orders=1)
        first = place(agent, far_bid(agent))
        assert first.status_code == 201, first.text
        err = refusal(agent, far_bid(agent))
        assert err["code"] == "agent_max_open_orders" and err["details"]["open_orders"] == 1
        assert admin.delete(f"/v1/admin/api-keys/{key_id}/limits").status_code == 200
        assert admin.delete(f"/v1/admin/api-keys/{key_id}/limits").status_code == 404
        second = place(agent, far_bid(agent))
        assert second.status_code == 201, second.text

        # Today's notional: both resting bids count; a limit below it refuses the next order.
        got = admin.get(f"/v1/admin/api-keys/{key_id}/limits").json()
        used = Decimal(got["usage"]["daily_notional"])
        assert used > 0 and got["usage"]["open_orders"] == 2
        put_limits(admin, key_id, max_daily_notional=str(used + 1))
        err = refusal(agent, far_bid(agent))
        assert err["code"] == "agent_max_daily_notional"
        # What is left is 1 USD, or a hair less: an order admitted within the last usage read
        # counts at max(price, oracle) until the next read counts it at its stored price.
        assert Decimal("0.99") <= Decimal(err["details"]["remaining"]) <= 1
        after = rows(router, "SELECT id FROM orders WHERE api_key_id = $1", uuid.UUID(key_id))
        assert len(after) == before + 2  # none of the refused orders was stored
        for placed in (first, second):
            agent.delete(f"/v1/orders/{placed.json()['id']}")
        actions = [e["action"] for e in admin.get("/v1/admin/audit").json()["entries"]]
        assert "agent_limits_set" in actions and "agent_limits_deleted" in actions


def test_limits_set_from_the_cli_reach_the_running_router(router: RouterProcess) -> None:
    key_id, key = new_trader(router)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    done = subprocess.run(
        [sys.executable, "-m", "dydx_router.cli", "api-keys", "limits", key_id,
         "--allowed-markets", "ETH-USD", "--max-order-notional", "50"],
        env=env | {"DATABASE_URL": router.database_url}, cwd=ROOT, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "allowed_markets:    ETH-USD" in done.stdout
    body = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
    with router.client(key) as agent:
        # The router learns it from PostgreSQL's notification (its poll is the backstop).
        deadline = time.monotonic() + 5
        while True:
            resp = agent.post("/v1/orders", json=body, params={"dry_run": "true"})
            if resp.status_code == 400 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert resp.json()["error"]["code"] == "agent_market_not_allowed"
    bad = subprocess.run(
        [sys.executable, "-m", "dydx_router.cli", "api-keys", "limits", key_id,
         "--max-open-orders", "many"],
        env=env | {"DATABASE_URL": router.database_url}, cwd=ROOT, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "--max-open-orders" in bad.stderr


def test_the_reason_is_stored_with_the_order_its_events_and_the_audit_log(
    router: RouterProcess,
) -> None:
    _, key = new_trader(router)
    why = "momentum: ETH bid far below, testing the reason"
    with router.client(key) as agent, router.client() as admin:
        for bad in ("two\nlines", "x" * 201, "tab\there", ""):
            resp = place(agent, far_bid(agent) | {"reason": bad})
            assert resp.status_code == 422, (bad, resp.text)
            assert resp.json()["error"]["code"] == "invalid_request"
        placed = place(agent, far_bid(agent) | {"reason": why})
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        assert placed.json()["placement_reason"] == why
        wait_for(lambda: order_of(agent, order_id), lambda o: o["status"] == "OPEN")
        bad = agent.delete(f"/v1/orders/{order_id}", params={"reason": "a\nb"})
        assert bad.status_code == 422
        canceled = agent.delete(f"/v1/orders/{order_id}", params={"reason": "flat by 17:00"})
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["cancel_reason"] == "flat by 17:00"
        final = wait_for(lambda: order_of(agent, order_id), lambda o: o["status"] == "CANCELED")
        assert final["placement_reason"] == why and final["cancel_reason"] == "flat by 17:00"

        entries = admin.get("/v1/admin/audit", params={"limit": 500}).json()["entries"]
        mine = {
            e["action"]: e
            for e in entries
            if order_id in (e["target"], *e["details"].get("order_ids", []))
        }
        assert mine["order_placed"]["details"]["reason"] == why
        assert mine["order_placed"]["actor_key_id"] is not None
        assert mine["order_cancel_requested"]["details"]["reason"] == "flat by 17:00"

        # The stream (resumed from the start of the log) carries both reasons.
        sse = Sse(router, key, last_event_id=0, order_id=order_id)
        try:
            events = sse.until(lambda e: e[2]["status"] == "CANCELED")
        finally:
            sse.close()
        by_status = {e[2]["status"]: e[2] for e in events}
        assert all(e["placement_reason"] == why for e in by_status.values())
        assert by_status["CANCEL_REQUESTED"]["cancel_reason"] == "flat by 17:00"
        assert by_status["CANCELED"]["cancel_reason"] == "flat by 17:00"
        assert by_status["PENDING"]["cancel_reason"] is None

        # Without a reason nothing changes: no audit entry per order.
        plain = place(agent, far_bid(agent))
        assert plain.status_code == 201 and plain.json()["placement_reason"] is None
        audited = rows(router, "SELECT 1 FROM audit_log WHERE target = $1", plain.json()["id"])
        assert audited == []
        agent.delete(f"/v1/orders/{plain.json()['id']}")
