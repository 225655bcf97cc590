"""Issue 13, item 10: a batch cancel is stored and answered as the chain took it, over HTTP
against the devnet (its fault switches make the chain refuse it, or leave it unanswered).

Before: whatever the chain said, the orders stayed CANCEL_REQUESTED and the answer listed them
as if cancelled: a refused cancel (clob/5001, the block rate limit) looked like a success, and
the orders, still live on the book, looked on their way out.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.fixtures.devnet import DevnetProcess
from tests.router.integration.reliability.harness import (
    launch_router,
    market_specs,
    report,
    stop_process,
)
from tests.router.integration.reliability.scenario import funded_wallet

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def _wait(c: httpx.AsyncClient, order_id: str, want: str, within: float = 5) -> None:
    deadline = time.monotonic() + within
    while (await c.get(f"/v1/orders/{order_id}")).json()["status"] != want:
        assert time.monotonic() < deadline, f"{order_id} never {want}"
        await asyncio.sleep(0.05)


@pytest.mark.timeout(120)
async def test_a_refused_or_unanswered_batch_cancel_is_stored_and_answered_as_such(
    reliability_devnet: DevnetProcess, router_db: str
) -> None:
    devnet = reliability_devnet
    mnemonic, _ = await funded_wallet(devnet)
    env = {"DYDX_ROUTER_CHAIN_RETRY_BUDGET_S": "1"}
    router = await launch_router(devnet, router_db, "cancel-outcomes", mnemonic, env)
    results: dict[str, Any] = {}
    try:
        btc = (await market_specs(router))["BTC-USD"]
        price = (Decimal(btc["oracle_price"]) / 2).quantize(Decimal(btc["tick_size"]))
        headers = {"Authorization": f"Bearer {router.api_key}"}
        async with httpx.AsyncClient(base_url=router.url, headers=headers, timeout=30) as c:
            ids = []
            for _ in range(2):
                resp = await c.post(
                    "/v1/orders",
                    json={
                        "market": "BTC-USD",
                        "side": "BUY",
                        "type": "LIMIT",
                        "size": str(btc["min_order_size"]),
                        "price": str(price),
                        "good_til_blocks": 40,
                    },
                )
                assert resp.status_code == 201, resp.text
                ids.append(resp.json()["id"])
            for order_id in ids:
                await _wait(c, order_id, "OPEN")

            # Refused (the block rate limit): nothing cancelled, the orders OPEN as before.
            await devnet.set_faults(
                broadcast_error={
                    "codespace": "clob",
                    "code": 5001,
                    "raw_log": "exceeds the block rate limit",
                    "times": 1,
                }
            )
            refused = await c.post("/v1/orders/cancel", json={"ids": ids})
            assert refused.status_code == 200, refused.text
            body = refused.json()
            assert sorted(f["order_id"] for f in body.get("failed", [])) == sorted(ids), body
            failure = body["failed"][0]
            assert failure["code"] == "order_not_cancelable"
            assert failure["details"] == {"codespace": "clob", "chain_code": 5001}
            assert {o["status"] for o in body["orders"]} == {"OPEN"}
            for order_id in ids:
                stored = (await c.get(f"/v1/orders/{order_id}")).json()
                assert stored["status"] == "OPEN"
                last = stored["status_history"][-1]
                assert last["reason"] == "batch cancel rejected: clob/5001", last
            results["refused"] = {"answer": failure, "stored": "OPEN"}

            # Unanswered (the broadcast path cut): it may have reached the chain, so the orders
            # stay CANCEL_REQUESTED, and the answer says the outcome is unknown.
            await devnet.set_faults(broadcast_unavailable=True)
            unknown = await c.post("/v1/orders/cancel", json={"ids": ids})
            await devnet.reset_faults()
            assert unknown.status_code == 200, unknown.text
            body = unknown.json()
            assert [f["code"] for f in body["failed"]] == ["cancel_outcome_unknown"] * 2, body
            assert {o["status"] for o in body["orders"]} == {"CANCEL_REQUESTED"}
            results["unanswered"] = {"answer": body["failed"][0]["message"]}
    finally:
        await devnet.reset_faults()
        stop_process(router)
    report("batch_cancel_outcomes", results)
