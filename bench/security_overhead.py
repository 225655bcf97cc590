"""What the security layer adds per request, in process: the pre-trade gate (kill switch, every
risk limit with a warm exposure snapshot, the chain rate window), the per-key token bucket, and
log redaction of a typical order event.

    .venv/bin/python bench/security_overhead.py [--n 50000]

No I/O is involved by design: the gate reads limits, state and exposure from memory, so its cost
is CPU only. Prints microseconds per call (median of 5 rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dydx_router.domain.market import MarketSpec, Side
from dydx_router.domain.order import OrderType
from dydx_router.domain.planning import OrderRequest, PlanningContext, plan_order
from dydx_router.domain.risk import OpenOrder, RiskLimits, RiskPolicy, TradingState
from dydx_router.observability.redact import REDACTOR, redact_event
from dydx_router.service.ports import AccountSnapshot, Position
from dydx_router.service.ratelimit import Rate, RateLimiter
from dydx_router.service.risk import ControlsSnapshot, ExposureBook, PreTradeGate, RiskControls
from dydx_router.service.throttle import BlockLimit, ChainLimits, ChainThrottle

BTC = MarketSpec("BTC-USD", 0, -10, -9, 1_000_000, 100_000)
ORACLE = Decimal("28688.19524")


class Heights:
    height = 1000

    async def wait_for_height(self, height: int, *, within: float) -> int:
        return self.height


async def gate() -> PreTradeGate:
    limits = RiskLimits(
        max_order_size=Decimal(10),
        max_order_notional=Decimal(1_000_000),
        max_position_notional=Decimal(10_000_000),
        max_open_orders=1_000_000,
        price_band_bps=500,
        max_slippage_bps=200,
    )

    async def load() -> ControlsSnapshot:
        return ControlsSnapshot(RiskPolicy(global_limits=limits), TradingState.ACTIVE)

    async def open_orders() -> Sequence[OpenOrder]:
        return [OpenOrder(0, "BTC-USD", Side.BUY, Decimal("0.01")) for _ in range(100)]

    async def account(sub: int) -> AccountSnapshot:
        return AccountSnapshot([Position("BTC-USD", Decimal("0.5"), None, None)], None, None, "x")

    controls = RiskControls(load)
    await controls.reload()
    book = ExposureBook(open_orders, account, max_age_s=3600)
    await book.refresh([0])
    # An allowance no run exhausts, so every call takes the admit path.
    throttle = ChainThrottle(
        Heights(), limits=ChainLimits(short_term_orders_and_cancels=(BlockLimit(10**9, 5),))
    )
    return PreTradeGate(controls, book, lambda _m: ORACLE, throttle)


def rounds(fn: Callable[[], Any], n: int) -> float:
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(samples)


async def main(n: int) -> None:
    g = await gate()
    req = OrderRequest("BTC-USD", Side.BUY, OrderType.MARKET, Decimal("0.001"))
    plan = plan_order(
        req,
        PlanningContext(BTC, 1000, datetime.now(UTC), 20, 3600, 100, reference_price=ORACLE),
    )
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            admission = await g.admit(req, plan, 0)
            admission.committed()
        samples.append((time.perf_counter() - start) / n * 1e6)
        await g.exposure.refresh([0])  # drop this round's reservations, as the refresher does
    print(f"pre-trade gate (all limits, warm snapshot): {statistics.median(samples):7.2f} us/order")

    limiter = RateLimiter({"trade": Rate(1e12, 10**12)})
    bucket = rounds(lambda: limiter.take("k", "trade"), n)
    print(f"per-key token bucket:                       {bucket:7.2f} us/request")

    event = {
        "event": "order_submitted",
        "order_id": "5354e1db-0bd2-4579-a3c4-7285cfea0779",
        "market": "BTC-USD",
        "tx_hash": "AB" * 32,
        "request_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        "level": "info",
        "timestamp": "2026-11-24T06:07:51.123456Z",
    }
    REDACTOR.register(
        "abandon ability able about above absent absorb abstract absurd abuse access accident"
    )
    redaction = rounds(lambda: redact_event(None, "info", event), n)
    print(f"log redaction of an order event:            {redaction:7.2f} us/line")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    asyncio.run(main(parser.parse_args().n))
