"""sdk/32 on a stateful order: the router resynchronises its account sequence and the order is
placed, without the caller doing anything (v4-chain protocol/app/ante/replay_protection.go;
dydxprotocol/v4-clients #282).

Two ways: the chain's own sdk/32 after another writer of the same account used the sequence the
router had cached, and an sdk/32 injected by the devnet (with a misleading "expected" hint).
Either way the order is signed again with the same OrderId, and the chain accepts it once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from dydx_router.chain import tx
from dydx_router.chain.node import GrpcEndpoint, NodeClient
from dydx_router.chain.sequencer import Sequencer
from dydx_router.chain.wallet import Wallet
from dydx_router.domain.market import Rounding, Side
from dydx_router.domain.order import OrderFlags
from tests.fixtures.devnet import DevnetProcess
from tests.router.integration.reliability.harness import (
    chain_order_key,
    launch_router,
    report,
    stop_process,
)
from tests.router.integration.reliability.scenario import funded_wallet

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHAIN_ID = "localdydxprotocol"


async def _next_block(devnet: DevnetProcess) -> None:
    """The stateful rate limit is 2 orders per block per account (mainnet genesis)."""
    start = (await devnet.status())["height"]
    deadline = time.monotonic() + 10
    while (await devnet.status())["height"] <= start:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)


def _resting_limit(price: Decimal) -> dict[str, Any]:
    return {
        "market": "BTC-USD",
        "side": "BUY",
        "type": "LIMIT",
        "size": "0.001",
        "price": str(price),
        "good_til_seconds": 600,
    }


@pytest.mark.timeout(120)
async def test_sdk_32_on_a_stateful_order_resyncs_and_succeeds(
    reliability_devnet: DevnetProcess, router_db: str
) -> None:
    devnet = reliability_devnet
    mnemonic, address = await funded_wallet(devnet)
    router = await launch_router(devnet, router_db, "resync", mnemonic)
    node = NodeClient([GrpcEndpoint(devnet.grpc)])
    try:
        btc = (await node.market_specs())["BTC-USD"]
        oracle = next(p for p in await node.market_prices() if p.market_id == 0).human
        price = (oracle / 2).quantize(Decimal(1))
        headers = {"Authorization": f"Bearer {router.api_key}"}
        async with httpx.AsyncClient(base_url=router.url, headers=headers, timeout=30) as c:

            async def place() -> dict[str, Any]:
                resp = await c.post("/v1/orders", json=_resting_limit(price))
                assert resp.status_code == 201, resp.text
                body: dict[str, Any] = resp.json()
                return body

            first = await place()  # the router now caches the next sequence
            await _next_block(devnet)

            # Another writer of the same account uses that sequence behind the router's back.
            other = Sequencer(
                node,
                Wallet.from_mnemonic(SecretStr(mnemonic)),
                address,
                chain_id=CHAIN_ID,
            )
            oob = tx.place_order(
                tx.ChainOrderId(address, 0, 4_000_000_000, btc.clob_pair_id, OrderFlags.LONG_TERM),
                side=Side.BUY,
                quantums=btc.to_quantums(Decimal("0.001")),
                subticks=btc.to_subticks(price, Rounding.FAVOURABLE, Side.BUY),
                good_til_block_time=int(time.time()) + 600,
            )
            await other.send([oob])
            await _next_block(devnet)
            real = await place()  # CheckTx answers sdk/32 "expected N+1, got N" to the router
            await _next_block(devnet)

            # An injected sdk/32 whose hint is wrong: the chain's next answer corrects it.
            await devnet.set_faults(
                broadcast_error={
                    "codespace": "sdk",
                    "code": 32,
                    "raw_log": "account sequence mismatch, expected 0, got 7: incorrect "
                    "account sequence",
                    "times": 1,
                }
            )
            try:
                injected = await place()
            finally:
                await devnet.reset_faults()
            statuses = {
                o["id"]: o["status_history"]
                for o in [
                    (await c.get(f"/v1/orders/{x['id']}")).json() for x in (first, real, injected)
                ]
            }
    finally:
        await node.close()
        stop_process(router)
    log = router.log_tail(1_000_000)
    accepted = await devnet.accepted_orders(owner=address)
    keys = Counter(chain_order_key(o) for o in accepted)
    report(
        "sdk_32_on_stateful_order",
        {
            "orders": 3,
            "answers": [o["status"] for o in (first, real, injected)],
            "sequence_mismatches_seen": log.count('"sequence_mismatch"'),
            "resyncs": log.count('"sequence_resynced"'),
            "accepted_by_chain": len(accepted),
            "duplicate_order_ids_on_chain": sum(n - 1 for n in keys.values() if n > 1),
        },
    )
    for placed in (first, real, injected):
        assert placed["status"] == "SUBMITTED"
        history = [h["to_status"] for h in statuses[placed["id"]]]
        assert history[:2] == ["PENDING", "SUBMITTED"]
    assert log.count('"sequence_mismatch"') >= 3  # one real, then injected + wrong hint
    router_ids = {o["chain"]["client_id"] for o in (first, real, injected)}
    placed_ids = [o["clientId"] for o in accepted if o["clientId"] in router_ids]
    assert sorted(placed_ids) == sorted(router_ids)  # each accepted exactly once
    assert all(n == 1 for n in keys.values())
