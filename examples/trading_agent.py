"""A small trading agent written with the typed client (``dydx_router_client``).

A deterministic policy on the devnet's oracle walk: sample the oracle price of one market a few
times; if it went up, buy a little, else sell a little (momentum, in one line); preview the order
first (the router's dry run), place it, follow it until it is final, then close the position it
opened and follow that too. Every placement carries an Idempotency-Key, kept across retries.

    DYDX_ROUTER_URL=http://127.0.0.1:8000 DYDX_ROUTER_API_KEY=dxr_... \
        python -m examples.trading_agent

Run end to end against the devnet by tests/router/e2e/agents/test_examples.py.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from decimal import Decimal

from dydx_router_client import AsyncRouterClient, OrderOut, PlaceOrderBody, RouterError
from dydx_router_client.models import OrderStatus

FINAL = {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED}


@dataclass
class Report:
    prices: list[Decimal] = field(default_factory=list)
    side: str = ""
    opened: OrderOut | None = None
    closed: OrderOut | None = None
    refusals: list[str] = field(default_factory=list)


async def oracle(client: AsyncRouterClient, market: str) -> Decimal:
    spec = next(m for m in (await client.markets()).markets if m.market == market)
    if spec.oracle_price is None:
        raise RuntimeError(f"{market} has no oracle price")
    return spec.oracle_price


async def run(
    url: str, api_key: str, market: str = "BTC-USD", size: Decimal = Decimal("0.001"),
    samples: int = 3, interval_s: float = 0.5,
) -> Report:  # fmt: skip
    report = Report()
    async with AsyncRouterClient(url, api_key) as client:
        for _ in range(samples):
            report.prices.append(await oracle(client, market))
            await asyncio.sleep(interval_s)
        report.side = "BUY" if report.prices[-1] >= report.prices[0] else "SELL"
        order = PlaceOrderBody.model_validate(
            {"market": market, "side": report.side, "type": "MARKET", "size": str(size)}
        )
        try:
            preview = await client.preview_order(order)  # quantized, risk-checked, not sent
        except RouterError as refusal:
            report.refusals.append(str(refusal))  # e.g. trading_halted: stop here
            return report
        assert preview.order.size == size
        placed = await client.place_order(order)
        report.opened = await client.wait_for(placed.id, FINAL, timeout=30)
        if report.opened.status is OrderStatus.FILLED:
            closing = await client.close_position(market, size=report.opened.filled_size)
            report.closed = await client.wait_for(closing.id, FINAL, timeout=30)
    return report


if __name__ == "__main__":
    result = asyncio.run(
        run(
            os.environ.get("DYDX_ROUTER_URL", "http://127.0.0.1:8000"),
            os.environ["DYDX_ROUTER_API_KEY"],
        )
    )
    print(result)
