"""The status stream settles a fill it states in full (every fill of the order in the updates it
has, adding up to the total the order's latest report states) from the stream itself, with the
fill price; anything less goes to the indexer's REST API."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

from dydx_router.chain.height import HeightCache
from dydx_router.chain.indexer_models import SubaccountUpdateContents
from dydx_router.chain.stream import IndexerStream, SubaccountUpdate
from dydx_router.domain.order import Order, OrderStatus
from dydx_router.domain.sync import VenueOrder, VenueStatus
from dydx_router.service.orders import Caller, UowPlacements
from dydx_router.service.sync import OrderSync
from dydx_router.workers.status import StatusStreamWorker
from tests.router.unit.service.fakes import FakeUnitOfWork, env, market_buy

__all__ = ["env"]

T = "2026-01-01T00:00:00.000Z"


class CountingExchange:
    """The service tests' exchange, counting the REST look-ups of an order."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.asked = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def venue_order(self, order: Order) -> VenueOrder | None:
        self.asked += 1
        return await self._inner.venue_order(order)


def fill(order: Order, size: str, price: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "subaccountId": str(uuid.uuid4()),
        "side": "BUY",
        "liquidity": "TAKER",
        "type": "LIMIT",
        "clobPairId": "0",
        "size": size,
        "price": price,
        "quoteAmount": str(Decimal(size) * Decimal(price)),
        "eventId": "00",
        "transactionHash": "AB",
        "createdAt": T,
        "createdAtHeight": "101",
        "orderId": str(order.indexer_order_id),
        "ticker": "BTC-USD",
    }


def report(order: Order, status: str, total: str) -> dict[str, Any]:
    return {
        "id": str(order.indexer_order_id),
        "status": status,
        "orderFlags": "0",
        "totalFilled": total,
        "updatedAtHeight": "101",
    }


def update(fills: list[dict[str, Any]], orders: list[dict[str, Any]]) -> SubaccountUpdate:
    contents = SubaccountUpdateContents.model_validate({"fills": fills, "orders": orders})
    return SubaccountUpdate("dydx1abc", 0, contents, "1.0.0")


async def settle(env: Any, updates: list[SubaccountUpdate], rest: VenueOrder | None) -> Any:
    store, exchange, _ = env
    counting = CountingExchange(exchange)
    exchange.venue = rest
    sync = OrderSync(
        uow=lambda: FakeUnitOfWork(store),
        exchange=counting,  # type: ignore[arg-type]
        writes=UowPlacements(lambda: FakeUnitOfWork(store)),
    )
    worker = StatusStreamWorker(
        IndexerStream(["ws://127.0.0.1:1"]),
        sync,
        HeightCache(),
        lambda: FakeUnitOfWork(store),
        asyncio.Event(),
    )
    await worker._settle_updates(updates)
    return counting


async def test_a_fill_stated_in_full_is_settled_from_the_stream(env: Any) -> None:
    store, _, service = env
    order = (await service.place(market_buy(), Caller())).order  # 0.01
    # Two fills in two messages (one per fill, as the indexer sends them), one batch.
    updates = [
        update([fill(order, "0.004", "65000")], [report(order, "OPEN", "0.004")]),
        update([fill(order, "0.006", "65010")], [report(order, "FILLED", "0.01")]),
    ]
    counting = await settle(env, updates, rest=None)
    assert counting.asked == 0
    row = store.rows[order.id]
    assert row.status is OrderStatus.FILLED and row.filled_size == Decimal("0.01")
    assert row.average_fill_price == Decimal("65006.0")  # (0.004*65000 + 0.006*65010) / 0.01


async def test_fills_missing_from_the_updates_go_to_rest(env: Any) -> None:
    store, _, service = env
    order = (await service.place(market_buy(), Caller())).order
    # The first fill (0.004) was in an earlier batch: this one cannot give the average price.
    updates = [update([fill(order, "0.006", "65010")], [report(order, "FILLED", "0.01")])]
    rest = VenueOrder(VenueStatus.FILLED, Decimal("0.01"), Decimal("65006"))
    counting = await settle(env, updates, rest=rest)
    assert counting.asked == 1
    row = store.rows[order.id]
    assert row.status is OrderStatus.FILLED and row.average_fill_price == Decimal("65006")


async def test_a_filled_report_without_its_fills_goes_to_rest(env: Any) -> None:
    store, _, service = env
    order = (await service.place(market_buy(), Caller())).order
    updates = [update([], [report(order, "FILLED", "0.01")])]
    rest = VenueOrder(VenueStatus.FILLED, Decimal("0.01"), Decimal("65000"))
    counting = await settle(env, updates, rest=rest)
    assert counting.asked == 1
    assert store.rows[order.id].average_fill_price == Decimal("65000")


async def test_a_fill_without_the_orders_report_goes_to_rest(env: Any) -> None:
    store, _, service = env
    order = (await service.place(market_buy(), Caller())).order
    updates = [update([fill(order, "0.01", "65000")], [])]
    rest = VenueOrder(VenueStatus.FILLED, Decimal("0.01"), Decimal("65000"))
    counting = await settle(env, updates, rest=rest)
    assert counting.asked == 1
    assert store.rows[order.id].status is OrderStatus.FILLED


class ConcurrencyProbe:
    """An OrderSync stand-in that records how many settlements run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    async def apply_seen(self, order: Order, venue: VenueOrder | None, height: int | None) -> bool:
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(0.001)
        self.running -= 1
        return True


async def test_a_blocks_fills_are_settled_128_at_a_time(env: Any) -> None:
    store, _, service = env
    orders = [(await service.place(market_buy(), Caller())).order for _ in range(300)]
    updates = [update([fill(o, "0.01", "65000")], [report(o, "FILLED", "0.01")]) for o in orders]
    probe = ConcurrencyProbe()
    worker = StatusStreamWorker(
        IndexerStream(["ws://127.0.0.1:1"]),
        probe,  # type: ignore[arg-type]
        HeightCache(),
        lambda: FakeUnitOfWork(store),
        asyncio.Event(),
    )
    await worker._settle_updates(updates)
    assert probe.peak == 128
