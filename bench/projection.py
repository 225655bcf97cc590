"""The devnet indexer's projection of fills, in isolation: CPU per fill of a block of 500 fills
(one maker, 500 IOC takers), with every subaccount followed on the websocket and with only the
takers' subaccount followed (as the router follows its own).

    .venv/bin/python bench/projection.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.devnet.unit.indexer_events import (  # noqa: E402
    ALICE,
    BOB,
    block,
    chain,
    fill,
    funded,
    order,
    placed,
)

from dydx_devnet.indexer.projection import Projection  # noqa: E402
from dydx_devnet.model import Side, TimeInForce  # noqa: E402

BLOCKS, FILLS = 10, 500


def us_per_fill(follow_all: bool) -> float:
    p = Projection(chain())
    if not follow_all:
        taker_channel = f"{BOB.owner}/{BOB.number}"
        p.wanted = lambda channel, channel_id: channel_id == taker_channel
    p.apply(block(1, *funded(ALICE, 10**12, 1), *funded(BOB, 10**12, 1)))
    maker = order(ALICE, 1, Side.SELL, 10**12, 6_000_000_000, gtb=20)
    p.apply(placed(maker, 1))
    spent = 0.0
    for h in range(2, 2 + BLOCKS):
        fills = []
        for i in range(FILLS):
            taker = order(BOB, h * 1000 + i, Side.BUY, 10**6, 6_000_000_000, gtb=h + 10,
                          tif=TimeInForce.IOC)  # fmt: skip
            done = ((h - 2) * FILLS + i + 1) * 10**6
            fills.append(fill(maker, taker, 10**6, h, maker_filled=done, taker_filled=10**6))
        batch = block(h, *fills)
        start = time.process_time()
        p.apply(batch)
        spent += time.process_time() - start
    return spent / (BLOCKS * FILLS) * 1e6


if __name__ == "__main__":
    for _ in range(3):
        print(
            f"every subaccount followed: {us_per_fill(True):.0f} µs/fill; "
            f"the takers' only: {us_per_fill(False):.0f} µs/fill"
        )
