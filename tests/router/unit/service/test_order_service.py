"""The order use cases against hand-written fakes of their ports (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from tests.router.unit.service.fakes import FakeUnitOfWork, env, market_buy

from dydx_router.domain.errors import (
    IdempotencyConflict,
    NoPosition,
    OrderInFlight,
    OrderNotCancelable,
    SubaccountForbidden,
    UnknownMarket,
)
from dydx_router.domain.market import Side
from dydx_router.domain.order import (
    OrderStatus,
    OrderType,
)
from dydx_router.domain.planning import OrderRequest
from dydx_router.domain.sync import VenueOrder, VenueStatus
from dydx_router.service.orders import Caller, PlaceOrder
from dydx_router.service.ports import (
    Outcome,
    Position,
)
from dydx_router.service.sync import OrderSync

__all__ = ["env"]  # the fixture, re-used

# --- tests ---------------------------------------------------------------------------------


async def test_the_row_is_committed_before_the_broadcast(env: Any) -> None:
    store, exchange, service = env
    result = await service.place(market_buy(), Caller())
    assert exchange.rows_at_broadcast == [1]  # the PENDING row was durable first
    assert result.order.status is OrderStatus.SUBMITTED
    stored = store.rows[result.order.id]
    assert stored.signed_tx == b"tx-1" and stored.tx_hash == "AB" * 32
    assert [h.to_status for _, h in store.history] == [OrderStatus.PENDING, OrderStatus.SUBMITTED]


@pytest.mark.parametrize(
    ("outcome", "status"),
    [(Outcome.REJECTED, OrderStatus.REJECTED), (Outcome.UNKNOWN, OrderStatus.UNKNOWN)],
)
async def test_outcomes_are_recorded(env: Any, outcome: Outcome, status: OrderStatus) -> None:
    store, exchange, service = env
    exchange.outcome = outcome
    result = await service.place(market_buy(), Caller())
    assert store.rows[result.order.id].status is status
    assert store.rows[result.order.id].last_error is not None


async def test_invalid_order_stores_and_sends_nothing(env: Any) -> None:
    store, exchange, service = env
    bad = PlaceOrder(
        request=OrderRequest(
            market="BTC-USD",
            side=Side.BUY,
            type=OrderType.LIMIT,
            size=Decimal("0.00015"),
            price=Decimal(1),
        ),
        subaccount_number=0,
    )
    with pytest.raises(Exception, match="step"):
        await service.place(bad, Caller())
    with pytest.raises(UnknownMarket):
        await service.place(
            PlaceOrder(OrderRequest("NOPE-USD", Side.BUY, OrderType.MARKET, Decimal(1)), 0),
            Caller(),
        )
    assert store.rows == {} and exchange.broadcasts == []


async def test_idempotency(env: Any) -> None:
    _store, exchange, service = env
    first = await service.place(market_buy(idempotency_key="k"), Caller())
    again = await service.place(market_buy(idempotency_key="k"), Caller())
    assert again.replayed and again.order.id == first.order.id
    assert len(exchange.broadcasts) == 1
    other = PlaceOrder(
        request=OrderRequest("BTC-USD", Side.BUY, OrderType.MARKET, Decimal("0.02")),
        subaccount_number=0,
        idempotency_key="k",
    )
    with pytest.raises(IdempotencyConflict):
        await service.place(other, Caller())


async def test_subaccount_allow_list(env: Any) -> None:
    _, exchange, service = env
    with pytest.raises(SubaccountForbidden):
        await service.place(market_buy(), Caller(subaccounts=frozenset({1})))
    assert exchange.broadcasts == []


async def test_cancel_marks_requested_then_sends(env: Any) -> None:
    store, exchange, service = env
    placed = await service.place(market_buy(), Caller())
    canceled = await service.cancel(placed.order.id, Caller())
    assert canceled.status is OrderStatus.CANCEL_REQUESTED
    assert exchange.cancels == [placed.order.id]
    exchange.outcome = Outcome.REJECTED
    store.rows[placed.order.id].status = OrderStatus.FILLED
    with pytest.raises(OrderNotCancelable):
        await service.cancel(placed.order.id, Caller())


async def test_batch_cancel_groups_short_term_orders(env: Any) -> None:
    store, exchange, service = env
    for _ in range(3):
        await service.place(market_buy(), Caller())
    done = await service.cancel_many(Caller(), market="BTC-USD")
    assert len(done.orders) == 3 and done.failed == []
    assert exchange.batches == [(0, {0: [1, 2, 3]}, 120)]
    assert all(o.status is OrderStatus.CANCEL_REQUESTED for o in store.rows.values())


async def test_close_position_is_reduce_only_on_the_opposite_side(env: Any) -> None:
    _store, exchange, service = env
    with pytest.raises(NoPosition):
        await service.close_position("BTC-USD", Caller())
    exchange.positions = [Position("BTC-USD", Decimal("-0.0300"), None, None)]
    result = await service.close_position("BTC-USD", Caller())
    o = result.order
    assert o.side is Side.BUY and o.reduce_only and o.size == Decimal("0.03")
    with pytest.raises(Exception, match="exceeds"):
        await service.close_position("BTC-USD", Caller(), size=Decimal("0.05"))


async def test_sync_leaves_in_flight_orders_to_the_placement(env: Any) -> None:
    store, exchange, service = env
    order = (await service.place(market_buy(), Caller())).order
    store.rows[order.id].status = OrderStatus.PENDING
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange)
    with pytest.raises(OrderInFlight):
        await sync.apply(order.id, VenueOrder(VenueStatus.FILLED, Decimal("0.01")), 101)
    changed = await sync.apply(
        order.id, VenueOrder(VenueStatus.FILLED, Decimal("0.01")), 101, recovering=True
    )
    assert changed and store.rows[order.id].status is OrderStatus.FILLED


async def test_reconciler_resends_identical_bytes_while_valid(env: Any) -> None:
    store, exchange, service = env
    exchange.outcome = Outcome.UNKNOWN
    order = (await service.place(market_buy(), Caller())).order
    store.rows[order.id].created_at = datetime(2000, 1, 1, tzinfo=UTC)
    exchange.outcome = Outcome.ACCEPTED
    sync = OrderSync(uow=lambda: FakeUnitOfWork(store), exchange=exchange)
    report = await sync.reconcile()
    assert report.rebroadcast == 1
    assert exchange.broadcasts == [b"tx-1", b"tx-1"]  # the same bytes, never a new order
    assert store.rows[order.id].status is OrderStatus.SUBMITTED
    # Past its good-til-block and unknown to the indexer: expired, not re-sent.
    exchange.outcome = Outcome.UNKNOWN
    order2 = (await service.place(market_buy(), Caller())).order
    store.rows[order2.id].created_at = datetime(2000, 1, 1, tzinfo=UTC)
    exchange.height = 500
    await sync.reconcile()
    assert store.rows[order2.id].status is OrderStatus.EXPIRED
    assert len(exchange.broadcasts) == 3
