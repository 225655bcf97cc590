"""Statuses that must stay the chain's truth when the chain's answers are indirect (issue 13,
items 1, 3, 4), against the devnet over real sockets and the router as a process:

- a re-send after a lost reply that the chain answers "already there" (clob/24 filled,
  clob/20 resting) is not REJECTED: the order settles from the indexer;
- an indexer that lags more than the expiry backstop while orders fill: nothing is written
  EXPIRED before the indexer itself passed the good-til-block, every fill is kept;
- a cancel whose broadcast was lost is sent again while the venue still shows the order.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from dydx_router.chain.answers import submission_of
from dydx_router.chain.errors import ChainRejected
from dydx_router.chain.node import GrpcEndpoint, NodeClient
from dydx_router.chain.tx import SignedTx, tx_hash_of
from dydx_router.service.ports import Outcome
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import free_port
from tests.router.integration.reliability.harness import (
    chain_order_key,
    launch_router,
    market_specs,
    report,
    stop_process,
)
from tests.router.integration.reliability.scenario import funded_wallet
from tests.router.integration.reliability.truth import (
    blocks_past,
    client,
    far_limit,
    history,
    indexer_order,
    lose_the_reply,
    market,
    order,
    stored_status,
    until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENV = {"DYDX_ROUTER_RECONCILE_INTERVAL_S": "0.5", "DYDX_ROUTER_GOOD_TIL_BLOCK_OFFSET": "40"}
# More blocks than the router's expiry backstop (5) and than any order's good-til-block window.
LAG_BLOCKS = 60


async def _faults(devnet: DevnetProcess) -> dict[str, Any]:
    faults: dict[str, Any] = await devnet._call("GET", "/devnet/faults")
    return faults


@pytest.mark.timeout(150)
async def test_a_resend_answered_already_there_is_never_rejected(
    reliability_devnet: DevnetProcess, router_db: str
) -> None:
    devnet = reliability_devnet
    mnemonic, address = await funded_wallet(devnet)
    router = await launch_router(devnet, router_db, "truth-resend", mnemonic, ENV)
    cases = [
        # (what the re-send hears, the order): the original filled / the original rests.
        (
            "clob",
            24,
            "Order remaining amount is less than `MinOrderBaseQuantums`: Order is fully filled",
            "market",
        ),
        (
            "clob",
            20,
            "Order is not a valid replacement: Replacing an existing order failed",
            "resting",
        ),
    ]
    seen: dict[str, dict[str, Any]] = {}
    try:
        specs = await market_specs(router)
        btc = specs["BTC-USD"]
        async with client(router) as c:
            await devnet.set_faults(indexer_lag_blocks=LAG_BLOCKS)
            # A block held back first: what follows it (our orders) is held behind it.
            await blocks_past(devnet, (await devnet.status())["height"] + 1)
            try:
                for codespace, code, raw_log, kind in cases:
                    body = market(btc) if kind == "market" else far_limit(btc, good_til_blocks=40)
                    resp = await c.post("/v1/orders", json=body)
                    assert resp.status_code == 201, resp.text
                    placed = resp.json()
                    assert placed["status"] == "SUBMITTED"
                    # The reply was lost (what the router stores then), and the re-send goes
                    # to a node that answers from its memclob instead of its mempool cache.
                    await devnet.set_faults(
                        broadcast_error={
                            "codespace": codespace,
                            "code": code,
                            "raw_log": raw_log,
                            "times": 1,
                        }
                    )
                    await lose_the_reply(router_db, placed["id"])
                    deadline = time.monotonic() + 15
                    while (await _faults(devnet))["broadcast_error"] is not None:
                        assert time.monotonic() < deadline, "the reconciler never re-sent it"
                        await asyncio.sleep(0.1)
                    await asyncio.sleep(0.3)
                    after = await order(c, placed["id"])
                    seen[f"{codespace}/{code}"] = {"placed": placed, "after_resend": after}
            finally:
                await devnet.reset_faults()
            final = {
                k: await until(c, v["placed"]["id"], {"FILLED", "EXPIRED", "CANCELED"}, 40)
                for k, v in seen.items()
            }
    finally:
        stop_process(router)
    accepted = Counter(chain_order_key(o) for o in await devnet.accepted_orders(owner=address))
    report(
        "resend_answered_already_there",
        {
            k: {
                "after_resend": v["after_resend"]["status"],
                "final": final[k]["status"],
                "history": history(final[k]),
            }
            for k, v in seen.items()
        },
    )
    for key, v in seen.items():
        assert v["after_resend"]["status"] == "SUBMITTED", (key, history(v["after_resend"]))
        assert "REJECTED" not in history(final[key]), (key, history(final[key]))
    assert final["clob/24"]["status"] == "FILLED"  # the fill the re-send's answer announced
    assert final["clob/24"]["filled_size"] == seen["clob/24"]["placed"]["size"]
    assert final["clob/20"]["status"] == "EXPIRED"  # it rested, then its blocks ran out
    assert all(n == 1 for n in accepted.values()) and len(accepted) == 2


@pytest.mark.timeout(150)
async def test_fills_survive_an_indexer_that_lags_past_the_expiry_backstop(
    reliability_devnet: DevnetProcess, router_db: str
) -> None:
    devnet = reliability_devnet
    mnemonic, _ = await funded_wallet(devnet)
    env = {"DYDX_ROUTER_RECONCILE_INTERVAL_S": "0.5"}  # good-til-block: height + 20
    router = await launch_router(devnet, router_db, "truth-lag", mnemonic, env)
    try:
        btc = (await market_specs(router))["BTC-USD"]
        async with client(router) as c:
            await devnet.set_faults(indexer_lag_blocks=30)
            await blocks_past(devnet, (await devnet.status())["height"] + 1)
            try:
                placed = []
                for i in range(6):
                    resp = await c.post("/v1/orders", json=market(btc, "BUY" if i % 2 else "SELL"))
                    assert resp.status_code == 201, resp.text
                    placed.append(resp.json())
                last_gtb = max(p["chain"]["good_til_block"] for p in placed)
                # The node is well past every good-til-block and the router's backstop (5 blocks)
                # while the indexer is still before them: several reconcile passes run meanwhile.
                await blocks_past(devnet, last_gtb + 10)
                await asyncio.sleep(2.0)
                during = {p["id"]: await stored_status(router_db, p["id"]) for p in placed}
                indexer_height = int(await _indexer_height(devnet))
            finally:
                await devnet.reset_faults()
            final = [await until(c, p["id"], {"FILLED", "EXPIRED"}, 40) for p in placed]
    finally:
        stop_process(router)
    report(
        "indexer_lag_during_fills",
        {
            "orders": len(placed),
            "lag_blocks": 30,
            "indexer_height_while_checked": indexer_height,
            "last_good_til_block": last_gtb,
            "statuses_while_lagging": Counter(during.values()),
            "final": Counter(f["status"] for f in final),
        },
    )
    assert indexer_height <= last_gtb  # the indexer had not reached their expiry yet
    assert "EXPIRED" not in during.values(), during
    for f in final:
        assert f["status"] == "FILLED", history(f)
        assert "EXPIRED" not in history(f)


async def _indexer_height(devnet: DevnetProcess) -> str:
    async with httpx.AsyncClient(base_url=devnet.indexer, timeout=10) as c:
        height: str = (await c.get("/v4/height")).json()["height"]
    return height


@pytest.mark.timeout(150)
async def test_a_lost_cancel_is_sent_again_while_the_order_rests(
    reliability_devnet: DevnetProcess, router_db: str
) -> None:
    devnet = reliability_devnet
    mnemonic, _ = await funded_wallet(devnet)
    env = {"DYDX_ROUTER_RECONCILE_INTERVAL_S": "0.5", "DYDX_ROUTER_CHAIN_RETRY_BUDGET_S": "1"}
    router = await launch_router(devnet, router_db, "truth-cancel", mnemonic, env)
    try:
        btc = (await market_specs(router))["BTC-USD"]
        async with client(router) as c:
            resp = await c.post("/v1/orders", json=far_limit(btc, good_til_seconds=600))
            assert resp.status_code == 201, resp.text
            placed = resp.json()
            await until(c, placed["id"], {"OPEN"}, 20)
            # The cancel's broadcast never reaches CheckTx: its outcome is unknown.
            await devnet.set_faults(broadcast_unavailable=True)
            try:
                resp = await c.delete(f"/v1/orders/{placed['id']}")
                assert resp.status_code == 200, resp.text
                assert resp.json()["status"] == "CANCEL_REQUESTED"
            finally:
                await devnet.reset_faults()
            lost_at = time.monotonic()
            on_chain = await indexer_order(devnet, placed["chain"]["indexer_order_id"])
            assert on_chain is not None and on_chain["status"] == "OPEN"  # still live
            final = await until(c, placed["id"], {"CANCELED"}, 30)
            canceled_after = time.monotonic() - lost_at
            on_chain = await indexer_order(devnet, placed["chain"]["indexer_order_id"])
    finally:
        stop_process(router)
    log = router.log_tail(1_000_000)
    report(
        "lost_cancel_resent",
        {
            "canceled_after_s": round(canceled_after, 2),
            "cancels_resent": log.count('"order_cancel_resent"'),
            "history": history(final),
            "indexer_status": on_chain and on_chain["status"],
        },
    )
    assert on_chain is not None and on_chain["status"] == "CANCELED"
    assert log.count('"order_cancel_resent"') >= 1


@pytest.mark.timeout(60)
async def test_a_failover_after_a_lost_attempt_reads_the_next_answer_as_a_resend(
    reliability_devnet: DevnetProcess,
) -> None:
    """The node client's own failover is a re-send: the first endpoint failed in transport (the
    bytes may have reached it), the second answers from its memclob (clob/20: the order rests)."""
    devnet = reliability_devnet
    gone = f"127.0.0.1:{free_port()}"  # nothing listens: UNAVAILABLE, outcome unknown
    node = NodeClient([GrpcEndpoint(gone), GrpcEndpoint(devnet.grpc)])
    raw = b"\x0a\x00"
    await devnet.set_faults(
        broadcast_error={"codespace": "clob", "code": 20, "raw_log": "replacement", "times": 1}
    )
    try:
        with pytest.raises(ChainRejected) as exc:
            await node.broadcast(SignedTx(raw, tx_hash_of(raw)))
    finally:
        await devnet.reset_faults()
        await node.close()
    assert exc.value.key == ("clob", 20) and exc.value.resent
    assert submission_of(exc.value, placement=True).outcome is Outcome.ALREADY_DONE
