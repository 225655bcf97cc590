"""A stateful order signed with a timestamp nonce (the default mode, and a permissioned key's
only one) whose tx the chain never got is placed again once that tx provably can never land,
instead of staying UNKNOWN until its good-til time: against the devnet over real sockets, the
router as a process.

The devnet drops every broadcast (``broadcast_unavailable``: nothing reaches CheckTx) while the
order is placed and re-sent, for 30 s of block time: then the chain refuses the stored tx's nonce
for good (v4-chain `protocol/x/accountplus/keeper/timestampnonce.go` IsValidTimestampNonce,
MaxTimeInPastMs) and the reconciler's re-sends of the identical bytes are refused (sdk/32,
"not within valid time window"). Once the chain's block time is past the nonce's window plus the
router's margin (``chain/sequencer.py`` nonce_expired) and the tx is in no block, the same
OrderId is signed again with a fresh nonce and rests; it is accepted by the chain once.

The devnet's block time is the wall clock (no time travel), so this test waits the window out:
about 36 s from the placement to OPEN.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime

import pytest

from dydx_router.chain.errors import TxNotFound
from dydx_router.chain.node import GrpcEndpoint, NodeClient
from dydx_router.chain.sequencer import (
    NONCE_EXPIRY_MARGIN_MS,
    TIMESTAMP_NONCE_MIN,
    TIMESTAMP_NONCE_WINDOW_MS,
)
from dydx_router.chain.tx import sequence_of
from tests.fixtures.devnet import DevnetProcess
from tests.router.integration.reliability.harness import (
    chain_order_key,
    db,
    launch_router,
    market_specs,
    report,
    stop_process,
)
from tests.router.integration.reliability.scenario import funded_wallet
from tests.router.integration.reliability.truth import client, far_limit, history, order, until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENV = {
    "DYDX_ROUTER_SEQUENCE_MODE": "timestamp_nonce",
    "DYDX_ROUTER_RECONCILE_INTERVAL_S": "0.5",
    "DYDX_ROUTER_CHAIN_RETRY_BUDGET_S": "1",
}


async def _block_time_ms(devnet: DevnetProcess) -> int:
    t = datetime.fromisoformat((await devnet.status())["time"].replace("Z", "+00:00"))
    return int(t.timestamp() * 1000)


async def _stored_tx(url: str, order_id: str) -> bytes:
    async with db(url) as conn:
        tx: bytes = await conn.fetchval(
            "SELECT signed_tx FROM orders WHERE id = $1::uuid", order_id
        )
    return tx


@pytest.mark.timeout(150)
async def test_a_dropped_timestamp_nonce_tx_is_placed_again_once_it_can_never_land(
    reliability_devnet: DevnetProcess, router_db: str
) -> None:
    devnet = reliability_devnet
    mnemonic, address = await funded_wallet(devnet)
    router = await launch_router(devnet, router_db, "nonce-expiry", mnemonic, ENV)
    try:
        btc = (await market_specs(router))["BTC-USD"]
        async with client(router) as c:
            await devnet.set_faults(broadcast_unavailable=True)
            try:
                resp = await c.post("/v1/orders", json=far_limit(btc, good_til_seconds=600))
                assert resp.status_code == 202, resp.text
                placed = resp.json()
                assert placed["status"] == "UNKNOWN"
                first_tx = await _stored_tx(router_db, placed["id"])
                nonce = sequence_of(first_tx)
                assert nonce is not None and nonce >= TIMESTAMP_NONCE_MIN
                # the re-sends are dropped too until the chain refuses this nonce for good
                closed = nonce + TIMESTAMP_NONCE_WINDOW_MS + 500
                while True:
                    if await _block_time_ms(devnet) >= closed:
                        break
                    await asyncio.sleep(0.2)
            finally:
                await devnet.reset_faults()
            # Re-sends now reach CheckTx and are refused (the nonce's window is closed); the
            # order must not stay UNKNOWN, and must not be called REJECTED either.
            still = await order(c, placed["id"])
            assert still["status"] == "UNKNOWN", history(still)
            reopened_at = time.monotonic()
            final = await until(c, placed["id"], {"OPEN"}, 20)
            open_after = time.monotonic() - reopened_at
            replaced_at = await _block_time_ms(devnet)
    finally:
        stop_process(router)
    node = NodeClient([GrpcEndpoint(devnet.grpc)])
    try:
        with pytest.raises(TxNotFound):
            await node.get_tx(placed["chain"]["tx_hash"])  # the first tx never landed
    finally:
        await node.close()
    key = (address, 0, placed["chain"]["client_id"], placed["chain"]["clob_pair_id"], 64)
    accepted = [o for o in await devnet.accepted_orders(owner=address)]
    by_key = Counter(chain_order_key(o) for o in accepted)
    reasons = [h["reason"] for h in final["status_history"]]
    report(
        "timestamp_nonce_expiry",
        {
            "nonce_window_ms": TIMESTAMP_NONCE_WINDOW_MS,
            "margin_ms": NONCE_EXPIRY_MARGIN_MS,
            "open_after_window_closed_s": round(open_after, 2),
            "block_time_past_nonce_at_open_s": round((replaced_at - nonce) / 1000, 2),
            "history": [(h["to_status"], h["reason"]) for h in final["status_history"]],
            "times_accepted_by_chain": by_key[key],
        },
    )
    assert "REJECTED" not in history(final)
    assert any("placed again under its OrderId" in r for r in reasons), reasons
    assert by_key[key] == 1  # the OrderId placed once, with a fresh nonce
    (mine,) = [o for o in accepted if chain_order_key(o) == key]
    assert mine["txHash"] != placed["chain"]["tx_hash"]
    assert final["chain"]["tx_hash"] == mine["txHash"]
