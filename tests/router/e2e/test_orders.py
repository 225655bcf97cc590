"""The order API end to end: HTTP -> PostgreSQL -> devnet, as a trading system uses it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from dydx_router.store.database import asyncpg_dsn
from tests.fixtures.router import RouterProcess

pytestmark = pytest.mark.e2e


def wait_for(
    fetch: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = fetch()
    while not done(last):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; last seen: {last}")
        time.sleep(0.2)
        last = fetch()
    return last


def order_of(client: httpx.Client, order_id: str) -> dict[str, Any]:
    resp = client.get(f"/v1/orders/{order_id}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def place(client: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post("/v1/orders", json=body, headers=headers)


def oracle(client: httpx.Client, market: str) -> Decimal:
    markets = client.get("/v1/markets").json()["markets"]
    return Decimal(next(m for m in markets if m["market"] == market)["oracle_price"])


def position(client: httpx.Client, market: str) -> Decimal:
    body = client.get("/v1/positions").json()
    for p in body["positions"]:
        if p["market"] == market:
            size = Decimal(p["size"])
            return size if p["side"] == "LONG" else -size
    return Decimal(0)


def test_market_buy_fills_with_a_fill_price(router: RouterProcess) -> None:
    with router.client() as c:
        resp = place(c, {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.002"})
        assert resp.status_code == 201, resp.text
        order = resp.json()
        assert order["status"] == "SUBMITTED"
        assert order["chain"]["order_flags"] == 0 and order["time_in_force"] == "IOC"
        assert order["max_slippage_bps"] == 100
        filled = wait_for(lambda: order_of(c, order["id"]), lambda o: o["status"] == "FILLED")
        assert Decimal(filled["filled_size"]) == Decimal("0.002")
        avg = Decimal(filled["average_fill_price"])
        assert 0 < avg <= Decimal(order["price"])  # never worse than the recorded worst price
        statuses = [h["to_status"] for h in filled["status_history"]]
        assert statuses[:2] == ["PENDING", "SUBMITTED"] and statuses[-1] == "FILLED"


def test_resting_limit_is_open_then_canceled(router: RouterProcess) -> None:
    with router.client() as c:
        far = (oracle(c, "ETH-USD") / 2).quantize(Decimal("0.1"))
        resp = place(
            c,
            {
                "market": "ETH-USD",
                "side": "BUY",
                "type": "LIMIT",
                "size": "0.01",
                "price": str(far),
                "good_til_seconds": 600,
            },
        )
        assert resp.status_code == 201, resp.text
        order = resp.json()
        assert order["chain"]["order_flags"] == 64 and order["chain"]["good_til_block_time"]
        wait_for(lambda: order_of(c, order["id"]), lambda o: o["status"] == "OPEN")
        cancel = c.delete(f"/v1/orders/{order['id']}")
        assert cancel.status_code == 200, cancel.text
        assert cancel.json()["status"] in ("CANCEL_REQUESTED", "CANCELED")
        done = wait_for(lambda: order_of(c, order["id"]), lambda o: o["status"] == "CANCELED")
        assert [h["to_status"] for h in done["status_history"]][-2:] == [
            "CANCEL_REQUESTED",
            "CANCELED",
        ]
        again = c.delete(f"/v1/orders/{order['id']}")
        assert again.status_code == 409 and again.json()["error"]["code"] == "order_not_cancelable"


def test_short_term_limit_expires_after_its_good_til_block(router: RouterProcess) -> None:
    with router.client() as c:
        far = (oracle(c, "SOL-USD") / 2).quantize(Decimal("0.01"))
        resp = place(
            c,
            {
                "market": "SOL-USD",
                "side": "BUY",
                "type": "LIMIT",
                "size": "1",
                "price": str(far),
                "good_til_blocks": 3,
            },
        )
        assert resp.status_code == 201, resp.text
        order = resp.json()
        assert order["chain"]["order_flags"] == 0
        gtb = order["chain"]["good_til_block"]
        done = wait_for(lambda: order_of(c, order["id"]), lambda o: o["status"] == "EXPIRED")
        expired_at = done["status_history"][-1]["chain_height"]
        assert expired_at is None or expired_at > gtb


def test_post_only_that_would_cross_is_rejected_with_the_chain_code(router: RouterProcess) -> None:
    with router.client() as c:
        through = (oracle(c, "BTC-USD") * 2).quantize(Decimal("1"))
        resp = place(
            c,
            {
                "market": "BTC-USD",
                "side": "BUY",
                "type": "LIMIT",
                "size": "0.001",
                "price": str(through),
                "post_only": True,
                "good_til_blocks": 10,
            },
        )
        assert resp.status_code == 201, resp.text
        order = resp.json()
        assert order["status"] == "REJECTED"
        assert order["error"]["codespace"] == "clob" and order["error"]["code"] == 2003
        # The rejection is stored, with its reason, and final.
        stored = order_of(c, order["id"])
        assert stored["status"] == "REJECTED"
        assert stored["status_history"][-1]["reason"] == "checktx rejected: clob/2003"


def test_close_position_flattens_it(router: RouterProcess) -> None:
    with router.client() as c:
        start = position(c, "ETH-USD")
        resp = place(c, {"market": "ETH-USD", "side": "SELL", "type": "MARKET", "size": "0.05"})
        assert resp.status_code == 201, resp.text
        wait_for(lambda: order_of(c, resp.json()["id"]), lambda o: o["status"] == "FILLED")
        wait_for(lambda: {"p": position(c, "ETH-USD")}, lambda d: d["p"] == start - Decimal("0.05"))
        closed = c.post("/v1/positions/ETH-USD/close", json={"max_slippage_bps": 200})
        assert closed.status_code == 201, closed.text
        body = closed.json()
        assert body["reduce_only"] is True and body["side"] == ("BUY" if start <= 0 else "SELL")
        wait_for(lambda: order_of(c, body["id"]), lambda o: o["status"] == "FILLED")
        wait_for(lambda: {"p": position(c, "ETH-USD")}, lambda d: d["p"] == 0)
        none = c.post("/v1/positions/ETH-USD/close")
        assert none.status_code == 404 and none.json()["error"]["code"] == "no_position"


def test_batch_cancel_all(router: RouterProcess) -> None:
    with router.client() as c:
        ids = []
        for market, tick in (("BTC-USD", "1"), ("ETH-USD", "0.1")):
            far = (oracle(c, market) / 2).quantize(Decimal(tick))
            for blocks in (None, 30):
                body: dict[str, Any] = {
                    "market": market,
                    "side": "BUY",
                    "type": "LIMIT",
                    "size": "0.01",
                    "price": str(far),
                }
                if blocks:
                    body["good_til_blocks"] = blocks
                resp = place(c, body)
                assert resp.status_code == 201 and resp.json()["status"] == "SUBMITTED"
                ids.append(resp.json()["id"])
        resp = c.post("/v1/orders/cancel", json={"all": True})
        assert resp.status_code == 200, resp.text
        assert set(ids) <= {o["id"] for o in resp.json()["orders"]}
        for oid in ids:
            wait_for(lambda oid=oid: order_of(c, oid), lambda o: o["status"] == "CANCELED")
        bad = c.post("/v1/orders/cancel", json={"all": True, "market": "BTC-USD"})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid_cancel_selector"


def test_history_pagination_newest_first(router: RouterProcess) -> None:
    with router.client() as c:
        mine = set()
        for _ in range(7):
            resp = place(
                c,
                {
                    "market": "DOGE-USD",
                    "side": "SELL",
                    "type": "LIMIT",
                    "size": "100",
                    "price": "1000",
                    "good_til_blocks": 2,
                },
            )
            assert resp.status_code == 201
            mine.add(resp.json()["id"])
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"market": "DOGE-USD", "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/v1/orders", params=params).json()
            seen += page["orders"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert {o["id"] for o in seen} >= mine
        stamps = [o["created_at"] for o in seen]
        assert stamps == sorted(stamps, reverse=True)
        assert len({o["id"] for o in seen}) == len(seen)
        assert all(o["status_history"] is None for o in seen)
        assert c.get("/v1/orders", params={"cursor": "garbage"}).json()["error"]["code"] == (
            "invalid_cursor"
        )


def test_idempotent_replay_and_conflict(router: RouterProcess) -> None:
    key = str(uuid.uuid4())
    body = {
        "market": "BTC-USD",
        "side": "BUY",
        "type": "LIMIT",
        "size": "0.001",
        "price": "1",
        "good_til_blocks": 5,
    }
    with router.client() as c:
        first = place(c, body, **{"Idempotency-Key": key})
        assert first.status_code == 201, first.text
        replay = place(c, body, **{"Idempotency-Key": key})
        assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
        assert replay.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        other = place(c, {**body, "size": "0.002"}, **{"Idempotency-Key": key})
        # draft-ietf-httpapi-idempotency-key-header §2.7: a key re-used with another body: 422.
        assert other.status_code == 422
        assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_concurrent_duplicates_make_exactly_one_order(router: RouterProcess) -> None:
    key = str(uuid.uuid4())
    body = {
        "market": "BTC-USD",
        "side": "BUY",
        "type": "LIMIT",
        "size": "0.001",
        "price": "1",
        "good_til_blocks": 5,
    }

    async def burst() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {router.api_key}", "Idempotency-Key": key}
        async with httpx.AsyncClient(base_url=router.url, headers=headers, timeout=30) as c:
            return await asyncio.gather(*(c.post("/v1/orders", json=body) for _ in range(8)))

    responses = asyncio.run(burst())
    # One placement (201); each other copy is a replay of it (200) or, while it is still being
    # placed, 409 idempotency_in_flight naming it (tests/router/e2e/test_idempotency_in_flight.py).
    assert all(r.status_code in (200, 201, 409) for r in responses), [r.text for r in responses]
    in_flight = [r.json()["error"] for r in responses if r.status_code == 409]
    assert all(e["code"] == "idempotency_in_flight" for e in in_flight), in_flight
    ids = {r.json()["id"] for r in responses if r.status_code != 409}
    ids |= {e["details"]["order_id"] for e in in_flight}
    assert len(ids) == 1
    assert sum(r.status_code == 201 for r in responses) == 1


def test_dry_run_previews_without_signing_storing_or_sending(router: RouterProcess) -> None:
    with router.client() as c:
        before = c.get("/v1/orders", params={"limit": 500}).json()["orders"]
        resp = c.post(
            "/v1/orders",
            params={"dry_run": "true"},
            json={"market": "ETH-USD", "side": "BUY", "type": "MARKET", "size": "0.01"},
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["dry_run"] is True and len(body["sign_doc_sha256"]) == 64
        # A preview, never a transaction: no signature or signed bytes anywhere in it.
        assert "tx_base64" not in body and body["order"]["chain"]["tx_hash"] is None
        order_id = body["order_id"]
        assert order_id["subaccount_id"] == {"owner": router.address, "number": 0}
        assert order_id["client_id"] == body["order"]["chain"]["client_id"]
        assert order_id["clob_pair_id"] == body["order"]["chain"]["clob_pair_id"]
        after = c.get("/v1/orders", params={"limit": 500}).json()["orders"]
        assert [o["id"] for o in after] == [o["id"] for o in before]
    accepted = asyncio.run(router.devnet.accepted_orders(router.address))
    client_id = body["order"]["chain"]["client_id"]
    assert all(o["clientId"] != client_id for o in accepted)


def test_unknown_outcome_is_settled_by_the_reconciler_never_placed_twice(
    router: RouterProcess,
) -> None:
    devnet = router.devnet
    with router.client() as c:
        asyncio.run(devnet.set_faults(broadcast_unavailable=True))
        try:
            resp = place(
                c,
                {
                    "market": "BTC-USD",
                    "side": "BUY",
                    "type": "MARKET",
                    "size": "0.001",
                    "good_til_blocks": 40,
                },
            )
        finally:
            asyncio.run(devnet.reset_faults())
        assert resp.status_code == 202, resp.text
        order = resp.json()
        assert order["status"] == "UNKNOWN"
        assert asyncio.run(_row_exists(router.database_url, order["id"]))
        settled = wait_for(
            lambda: order_of(c, order["id"]), lambda o: o["status"] == "FILLED", timeout=30
        )
        assert settled["status_history"][1]["to_status"] == "UNKNOWN"
    accepted = asyncio.run(devnet.accepted_orders(router.address))
    ids = [_order_key(o) for o in accepted]
    assert len(ids) == len(set(ids)), "an OrderId was accepted twice"
    mine = [o for o in accepted if o["clientId"] == order["chain"]["client_id"]]
    # Accepted once, and as the very bytes stored before the first (failed) broadcast.
    assert len(mine) == 1 and mine[0]["txHash"] == order["chain"]["tx_hash"]


def _order_key(o: dict[str, Any]) -> tuple[Any, ...]:
    return (o["clientId"], o["orderFlags"], o["clobPairId"], o["subaccountNumber"])


async def _row_exists(database_url: str, order_id: str) -> bool:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM orders WHERE id = $1", uuid.UUID(order_id)))
    finally:
        await conn.close()
