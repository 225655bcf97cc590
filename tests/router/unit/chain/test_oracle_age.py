"""Issue 13, item 11: an oracle price older than the limit is refused (503 price_stale), and the
price loop, which died silently on an error other than a chain error, runs under the supervisor
and comes back."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from dydx_router.api.errors import status_for
from dydx_router.chain.errors import ChainUnavailable, PriceStale
from dydx_router.chain.gateway import DydxExchange
from dydx_router.domain.market import MarketSpec
from dydx_router.workers.supervisor import Supervisor

BTC = MarketSpec("BTC-USD", 0, -10, -9, 1_000_000, 100_000)


@dataclass
class Perp:
    id: int
    ticker: str
    market_id: int


@dataclass
class Price:
    market_id: int
    human: Decimal


class Node:
    def __init__(self) -> None:
        self.price = Decimal(50000)
        self.fail: Exception | None = None
        self.calls = 0

    async def market_specs(self) -> dict[str, MarketSpec]:
        return {"BTC-USD": BTC}

    async def perpetuals(self) -> list[Perp]:
        return [Perp(0, "BTC-USD", 0)]

    async def market_prices(self) -> list[Price]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return [Price(0, self.price)]


class Heights:
    async def run(self) -> None:
        await asyncio.Event().wait()


def exchange(node: Node, clock: Any, interval: float = 2.0) -> DydxExchange:
    return DydxExchange(
        node=node,  # type: ignore[arg-type]
        indexer=None,  # type: ignore[arg-type]
        wallet=None,  # type: ignore[arg-type]
        sequencer=None,  # type: ignore[arg-type]
        heights=Heights(),  # type: ignore[arg-type]
        chain_id="test",
        prices_interval=interval,
        max_price_age_s=10,
        clock=clock,
    )


async def test_a_price_older_than_the_limit_is_refused() -> None:
    now = [1000.0]
    node = Node()
    ex = exchange(node, lambda: now[0])
    await ex.refresh_markets()
    assert ex.oracle_price("BTC-USD") == Decimal(50000)
    now[0] += 10
    assert ex.oracle_price("BTC-USD") == Decimal(50000) and ex.prices_problem() is None
    # The node stops answering: the last price ages, and past the limit it is not used.
    node.fail = ChainUnavailable("node down")
    now[0] += 0.5
    with pytest.raises(PriceStale) as stale:
        ex.oracle_price("BTC-USD")
    assert stale.value.code == "price_stale" and status_for(stale.value) == 503
    assert stale.value.details == {"market": "BTC-USD", "age_s": 10.5}
    assert ex.prices_problem() == "the oracle prices were read 10.5 s ago (limit 10 s)"
    assert ex.markets()[0].oracle_price == Decimal(50000)  # listed as read, not refused
    node.fail = None
    await ex.refresh_prices()
    assert ex.oracle_price("BTC-USD") == Decimal(50000)


async def test_the_price_loop_is_restarted_after_an_unexpected_error() -> None:
    node = Node()
    ex = exchange(node, time.monotonic, interval=0.01)
    await ex.refresh_markets()
    node.fail = ValueError("a malformed answer, not a ChainError")
    supervisor = Supervisor(backoff_initial_s=0.01, backoff_max_s=0.02)
    for name, loop in ex.background().items():
        if name == "oracle-prices":
            supervisor.spawn(name, loop)
    try:
        deadline = time.monotonic() + 3
        while supervisor.workers["oracle-prices"].restarts < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        node.fail, node.price = None, Decimal(51000)
        while ex.oracle_price("BTC-USD") != Decimal(51000):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
    finally:
        await supervisor.aclose()
