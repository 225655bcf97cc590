"""The status stream's fast path: a plain status move written as a compare-and-set on the status
the stream's snapshot had; anything else, or a status that moved meanwhile, under the row lock."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from tests.router.unit.service.fakes import FakeUnitOfWork, env, market_buy

from dydx_router.domain.order import OrderStatus
from dydx_router.domain.sync import VenueOrder, VenueStatus
from dydx_router.service.orders import Caller, UowPlacements
from dydx_router.service.sync import OrderSync

__all__ = ["env"]  # the fixture, shared with the service tests


class CountingWrites(UowPlacements):
    def __init__(self, store: Any) -> None:
        super().__init__(lambda: FakeUnitOfWork(store))
        self.records = 0

    async def record(self, *args: Any, **kwargs: Any) -> None:
        self.records += 1
        await super().record(*args, **kwargs)


async def test_a_resting_report_moves_the_status_without_the_lock(env: Any) -> None:
    store, exchange, service = env
    order = (await service.place(market_buy(), Caller())).order
    assert store.rows[order.id].status is OrderStatus.SUBMITTED
    writes = CountingWrites(store)
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange, writes=writes)
    seen = store.rows[order.id]
    assert await sync.apply_seen(seen, VenueOrder(VenueStatus.OPEN, Decimal(0)), 101)
    assert writes.records == 1 and store.rows[order.id].status is OrderStatus.OPEN
    history = [h.to_status for _, h in store.history if _ == order.id]
    assert history[-1] is OrderStatus.OPEN
    # The same report again changes nothing and writes nothing.
    assert not await sync.apply_seen(store.rows[order.id], VenueOrder(VenueStatus.OPEN, 0), 102)
    assert writes.records == 1


async def test_a_status_that_moved_meanwhile_falls_back_to_the_locked_path(env: Any) -> None:
    store, exchange, service = env
    order = (await service.place(market_buy(), Caller())).order
    stale = replace(store.rows[order.id])  # the stream's snapshot
    store.rows[order.id].status = OrderStatus.CANCEL_REQUESTED  # a cancel got there first
    writes = CountingWrites(store)
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange, writes=writes)
    await sync.apply_seen(stale, VenueOrder(VenueStatus.OPEN, Decimal(0)), 101)
    # The compare-and-set failed (SUBMITTED is gone); apply() decided on the fresh row.
    assert writes.records == 1
    assert store.rows[order.id].status is OrderStatus.CANCEL_REQUESTED


async def test_a_fill_that_moves_the_status_is_one_compare_and_set_with_its_figures(
    env: Any,
) -> None:
    store, exchange, service = env
    order = (await service.place(market_buy(), Caller())).order
    writes = CountingWrites(store)
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange, writes=writes)
    # As the stream states it: the exact size-weighted price, stored to a tenth of the tick.
    filled = VenueOrder(VenueStatus.FILLED, Decimal("0.01"), Decimal("65000.123456"))
    assert await sync.apply_seen(store.rows[order.id], filled, 101)
    assert writes.records == 1
    row = store.rows[order.id]
    assert row.status is OrderStatus.FILLED and row.filled_size == Decimal("0.01")
    tick = exchange.market(row.market).tick_size
    assert row.average_fill_price == Decimal("65000.123456").quantize(tick / 10)


async def test_more_fills_without_a_status_move_go_through_the_locked_path(env: Any) -> None:
    store, exchange, service = env
    order = (await service.place(market_buy(), Caller())).order
    writes = CountingWrites(store)
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange, writes=writes)
    first = VenueOrder(VenueStatus.OPEN, Decimal("0.004"), Decimal("65000"))
    assert await sync.apply_seen(store.rows[order.id], first, 101)
    assert store.rows[order.id].status is OrderStatus.PARTIALLY_FILLED
    more = VenueOrder(VenueStatus.OPEN, Decimal("0.006"), Decimal("65010"))
    assert await sync.apply_seen(store.rows[order.id], more, 102)
    assert writes.records == 1  # the second went through apply(), under the row lock
    assert store.rows[order.id].filled_size == Decimal("0.006")
