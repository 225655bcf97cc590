"""Latency of the devnet indexer's REST endpoints, over a real socket with a keep-alive client.

    .venv/bin/python bench/indexer_rest.py [--orders 5000] [--n 500]

Starts the indexer alone (chain state from genesis, no engine), feeds it one funded subaccount
with ``--orders`` resting short-term orders, then times ``--n`` sequential GETs per endpoint the
router polls. Prints p50/p99/max in milliseconds, one JSON line per endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime

import httpx

from dydx_devnet.events import (
    BlockCommitted,
    EventBatch,
    EventBus,
    OrderPlaced,
    PlacementStatus,
    SubaccountUpdated,
    Transfer,
    TransferKind,
)
from dydx_devnet.genesis import default_genesis
from dydx_devnet.indexer import Indexer
from dydx_devnet.model import Order, OrderFlags, OrderId, Side, Subaccount, SubaccountId
from dydx_devnet.state import ChainState

OWNER = SubaccountId("dydx199tqg4wdlnu4qjlxchpd7seg454937hjrknju4", 0)


def _feed(indexer: Indexer, orders: int) -> None:
    now = datetime.now(UTC)
    block = BlockCommitted(1, now)
    funded = (
        Transfer(TransferKind.DEPOSIT, None, OWNER, 0, 10**12, 1, now, ""),
        SubaccountUpdated(Subaccount(OWNER, 10**12), 1, now),
        block,
    )
    indexer.apply(EventBatch(funded, block))
    for i in range(orders):
        order = Order(
            OrderId(OWNER, i, OrderFlags.SHORT_TERM, 0),
            Side.BUY,
            1_000_000,
            5_000_000_000 - (i % 100) * 100_000,
            good_til_block=40,
        )
        placed = OrderPlaced(order, PlacementStatus.BEST_EFFORT_OPENED, 1, now, "")
        indexer.apply(EventBatch((placed,)))


async def main(orders: int, n: int) -> None:
    state = ChainState(default_genesis(), genesis_time_ms=int(time.time() * 1000))
    indexer = Indexer(state, EventBus())
    await indexer.start("127.0.0.1", 0, 0)
    try:
        _feed(indexer, orders)
        sub = {"address": OWNER.owner, "subaccountNumber": 0}
        endpoints = [
            ("/v4/height", {}),
            ("/v4/perpetualMarkets", {}),
            ("/v4/orderbooks/perpetualMarket/BTC-USD", {}),
            (f"/v4/addresses/{OWNER.owner}/subaccountNumber/0", {}),
            ("/v4/orders", {**sub, "limit": 100}),
            ("/v4/orders", {**sub, "limit": 100, "status": "OPEN"}),
            ("/v4/fills", sub),
        ]
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{indexer.rest_port}", timeout=10
        ) as client:
            for path, params in endpoints:
                await client.get(path, params=params)  # warm the connection
                samples = []
                for _ in range(n):
                    t = time.perf_counter()
                    r = await client.get(path, params=params)
                    samples.append((time.perf_counter() - t) * 1000)
                    r.raise_for_status()
                samples.sort()
                print(
                    json.dumps(
                        {
                            "endpoint": path,
                            "params": sorted(params),
                            "orders": orders,
                            "p50_ms": round(statistics.median(samples), 3),
                            "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3),
                            "max_ms": round(samples[-1], 3),
                        }
                    )
                )
    finally:
        await indexer.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.n))
