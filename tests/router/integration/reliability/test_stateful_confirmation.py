"""A stateful order accepted by CheckTx but in no block (the devnet stalls block production)
becomes UNKNOWN after the confirmation timeout, never FAILED; once blocks resume it settles from
the chain and the indexer, placed once."""

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


async def _until(c: httpx.AsyncClient, order_id: str, status: str, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        body: dict[str, Any] = (await c.get(f"/v1/orders/{order_id}")).json()
        if body["status"] == status:
            return body
        assert time.monotonic() < deadline, f"still {body['status']}, expected {status}"
        await asyncio.sleep(0.2)


@pytest.mark.timeout(120)
async def test_unconfirmed_stateful_order_is_unknown_then_settles(
    reliability_devnet: DevnetProcess, router_db: str
) -> None:
    devnet = reliability_devnet
    mnemonic, address = await funded_wallet(devnet)
    env = {
        "DYDX_ROUTER_STATEFUL_CONFIRM_TIMEOUT_S": "1.5",
        "DYDX_ROUTER_RECONCILE_INTERVAL_S": "0.5",
    }
    router = await launch_router(devnet, router_db, "confirm", mnemonic, env)
    try:
        btc = (await market_specs(router))["BTC-USD"]
        price = (Decimal(btc["oracle_price"]) / 2).quantize(Decimal(btc["tick_size"]))
        headers = {"Authorization": f"Bearer {router.api_key}"}
        async with httpx.AsyncClient(base_url=router.url, headers=headers, timeout=30) as c:
            await devnet.set_faults(block_stall=True)
            try:
                resp = await c.post(
                    "/v1/orders",
                    json={
                        "market": "BTC-USD",
                        "side": "BUY",
                        "type": "LIMIT",
                        "size": str(btc["min_order_size"]),
                        "price": str(price),
                        "good_til_seconds": 600,
                    },
                )
                assert resp.status_code == 201, resp.text
                order = resp.json()
                assert order["status"] == "SUBMITTED"
                placed_at = time.monotonic()
                unknown = await _until(c, order["id"], "UNKNOWN", within=15)
                unknown_after = time.monotonic() - placed_at
            finally:
                await devnet.reset_faults()
            resumed_at = time.monotonic()
            settled = await _until(c, order["id"], "OPEN", within=20)
            settled_after = time.monotonic() - resumed_at
    finally:
        stop_process(router)
    history = [(h["to_status"], h["reason"]) for h in settled["status_history"]]
    accepted = [o for o in await devnet.accepted_orders(owner=address)]
    report(
        "stateful_confirmation_timeout",
        {
            "confirm_timeout_s": 1.5,
            "unknown_after_s": round(unknown_after, 2),
            "open_after_blocks_resumed_s": round(settled_after, 2),
            "history": history,
            "accepted_by_chain": len(accepted),
        },
    )
    reasons = dict(history)
    assert "in no block" in reasons["UNKNOWN"]
    assert "REJECTED" not in reasons and unknown["error"] is None
    assert [s for s, _ in history][:3] == ["PENDING", "SUBMITTED", "UNKNOWN"]
    assert len(accepted) == 1  # placed once, whatever was re-sent
