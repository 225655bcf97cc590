"""Issue 13, item 8: the status stream worker under its supervisor, against the devnet's indexer
refusing subscriptions with socks' error message (``indexer_ws_subscribe_error``).

Before: the refused subscription raised out of the stream worker, which died for good, with
``connected`` still true: ``/ready`` stayed green and the reconciler's cutoff froze at the moment
of death, so every order placed afterwards stayed SUBMITTED (its fill never settled).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.fixtures.devnet import DevnetProcess
from tests.router.integration.reliability.harness import (
    launch_router,
    report,
    stop_process,
)
from tests.router.integration.reliability.scenario import funded_wallet

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def _status(c: httpx.AsyncClient, order_id: str, want: str, within: float) -> float:
    started = time.monotonic()
    while True:
        body: dict[str, Any] = (await c.get(f"/v1/orders/{order_id}")).json()
        if body["status"] == want:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"still {body['status']}, expected {want}"
        await asyncio.sleep(0.1)


def _restarts(metrics_text: str, worker: str) -> float:
    prefix = f'dydx_router_worker_restarts_total{{worker="{worker}"}} '
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


@pytest.mark.timeout(150)
async def test_a_stream_killed_by_an_indexer_error_is_restarted_and_reported(
    reliability_devnet: DevnetProcess, router_db: str
) -> None:
    devnet = reliability_devnet
    mnemonic, _ = await funded_wallet(devnet)
    # The router's first subscriptions are refused: its stream dies as it starts.
    await devnet.set_faults(indexer_ws_subscribe_error=2)
    try:
        router = await launch_router(devnet, router_db, "stream-sup", mnemonic)
    finally:
        await devnet.reset_faults()
    results: dict[str, Any] = {}
    try:
        headers = {"Authorization": f"Bearer {router.api_key}"}
        async with httpx.AsyncClient(base_url=router.url, headers=headers, timeout=30) as c:
            # 1. After the restarts, fills settle again (before: SUBMITTED for good).
            resp = await c.post(
                "/v1/orders",
                json={"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"},
            )
            assert resp.status_code == 201, resp.text
            results["market_order_filled_after_s"] = round(
                await _status(c, resp.json()["id"], "FILLED", within=10), 2
            )
            text = (await c.get("/metrics")).text
            results["stream_restarts_at_start"] = _restarts(text, "status-stream")
            assert results["stream_restarts_at_start"] >= 1

            # 2. A running stream killed by an error: an order on a subaccount not followed yet
            # makes it subscribe there, and the indexer refuses (then three more times, on the
            # reconnections). /ready says so while the worker is down, and recovers by itself.
            await devnet.set_faults(indexer_ws_subscribe_error=4)
            killed_at = time.monotonic()
            await c.post(
                "/v1/orders",
                json={
                    "market": "BTC-USD",
                    "side": "BUY",
                    "type": "MARKET",
                    "size": "0.001",
                    "subaccount": 3,
                },
            )
            reasons: list[str] = []
            while time.monotonic() - killed_at < 30:
                ready = await c.get("/ready")
                if ready.status_code == 503:
                    reasons = ready.json()["reasons"]
                    break
                await asyncio.sleep(0.02)
            assert any("status-stream is down" in r for r in reasons), reasons
            results["ready_503_after_s"] = round(time.monotonic() - killed_at, 2)
            results["ready_reason"] = reasons
            while (await c.get("/ready")).status_code != 200:
                assert time.monotonic() - killed_at < 60, "never ready again"
                await asyncio.sleep(0.1)
            results["ready_again_after_s"] = round(time.monotonic() - killed_at, 2)
            text = (await c.get("/metrics")).text
            results["stream_restarts_total"] = _restarts(text, "status-stream")
            assert results["stream_restarts_total"] >= results["stream_restarts_at_start"] + 1
            resp = await c.post(
                "/v1/orders",
                json={"market": "BTC-USD", "side": "SELL", "type": "MARKET", "size": "0.001"},
            )
            assert resp.status_code == 201, resp.text
            results["fill_settled_after_recovery_s"] = round(
                await _status(c, resp.json()["id"], "FILLED", within=10), 2
            )
        assert "worker_crashed" in router.log_tail(200_000)
    finally:
        await devnet.reset_faults()
        stop_process(router)
    report("stream_supervision", results)
