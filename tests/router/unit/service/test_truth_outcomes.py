"""Issue 13, items 9-12 against fakes of the ports: a cancel's outcome is what is stored and
answered, no pooled connection is held across a chain call, a close is replayed by its
Idempotency-Key, and only market orders depend on the oracle price."""

from __future__ import annotations

from decimal import Decimal
from types import TracebackType
from typing import Any

import pytest
from tests.router.unit.service.fakes import FakeExchange, FakeStore, FakeUnitOfWork

from dydx_router.chain.errors import PriceStale
from dydx_router.domain.errors import IdempotencyConflict, OrderNotCancelable
from dydx_router.domain.market import Side
from dydx_router.domain.order import OrderStatus, OrderType
from dydx_router.domain.planning import OrderRequest
from dydx_router.service.orders import Caller, OrderService, PlaceOrder
from dydx_router.service.ports import Outcome, Position


class CountingUnitOfWork(FakeUnitOfWork):
    """A unit of work that counts how many are open: each holds a pooled connection."""

    open = 0

    async def __aenter__(self) -> CountingUnitOfWork:
        CountingUnitOfWork.open += 1
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        CountingUnitOfWork.open -= 1
        await super().__aexit__(exc_type, exc, tb)


class RecordingExchange(FakeExchange):
    """Notes how many units of work are open whenever a cancel goes to the chain."""

    held_at_cancel: list[int]

    async def cancel(self, order: Any, height: int) -> Any:
        self.held_at_cancel.append(CountingUnitOfWork.open)
        return await super().cancel(order, height)

    async def batch_cancel_short_term(self, *args: Any) -> Any:
        self.held_at_cancel.append(CountingUnitOfWork.open)
        return await super().batch_cancel_short_term(*args)


@pytest.fixture
def env() -> tuple[FakeStore, RecordingExchange, OrderService]:
    store = FakeStore()
    exchange = RecordingExchange(store)
    exchange.held_at_cancel = []
    CountingUnitOfWork.open = 0
    service = OrderService(uow=lambda: CountingUnitOfWork(store), exchange=exchange)
    return store, exchange, service


def limit_buy() -> PlaceOrder:
    req = OrderRequest(
        market="BTC-USD",
        side=Side.BUY,
        type=OrderType.LIMIT,
        size=Decimal("0.01"),
        price=Decimal("40000"),
        good_til_blocks=20,
    )
    return PlaceOrder(request=req, subaccount_number=0)


async def _open_orders(store: FakeStore, service: OrderService, n: int) -> list[Any]:
    orders = [(await service.place(limit_buy(), Caller())).order for _ in range(n)]
    for o in orders:
        store.rows[o.id].status = OrderStatus.OPEN
    return orders


# --- item 10: a batch cancel's outcome --------------------------------------------------------


async def test_a_rejected_batch_cancel_restores_the_orders_and_says_so(env: Any) -> None:
    store, exchange, service = env
    orders = await _open_orders(store, service, 3)
    exchange.outcome = Outcome.REJECTED
    report = await service.cancel_many(Caller(), market="BTC-USD")
    assert len(exchange.batches) == 1
    # Nothing was cancelled: each order is OPEN again, its history says why, and the answer
    # lists every one as not cancelled with the chain's error.
    assert {store.rows[o.id].status for o in orders} == {OrderStatus.OPEN}
    assert {o.status for o in report.orders} == {OrderStatus.OPEN}
    assert sorted(f.order_id for f in report.failed) == sorted(o.id for o in orders)
    failure = report.failed[0]
    assert failure.code == "order_not_cancelable"
    assert failure.details == {"codespace": "clob", "chain_code": 2003}
    reasons = [h.reason for oid, h in store.history if oid == orders[0].id]
    assert reasons[-1] == "batch cancel rejected: clob/2003"


async def test_an_unknown_batch_cancel_stays_requested_and_says_unknown(env: Any) -> None:
    store, exchange, service = env
    orders = await _open_orders(store, service, 2)
    exchange.outcome = Outcome.UNKNOWN
    report = await service.cancel_many(Caller(), market="BTC-USD")
    # The cancel may have reached the chain: requested it stays, and the answer says unknown.
    assert {store.rows[o.id].status for o in orders} == {OrderStatus.CANCEL_REQUESTED}
    assert [f.code for f in report.failed] == ["cancel_outcome_unknown"] * 2


async def test_an_accepted_batch_cancel_fails_nothing(env: Any) -> None:
    store, _exchange, service = env
    orders = await _open_orders(store, service, 2)
    report = await service.cancel_many(Caller(), order_ids=[o.id for o in orders])
    assert report.failed == []
    assert {store.rows[o.id].status for o in orders} == {OrderStatus.CANCEL_REQUESTED}


async def test_a_rejected_cancel_is_stored_back_to_the_earlier_status(env: Any) -> None:
    store, exchange, service = env
    (order,) = await _open_orders(store, service, 1)
    exchange.outcome = Outcome.REJECTED
    with pytest.raises(OrderNotCancelable) as refused:
        await service.cancel(order.id, Caller())
    assert refused.value.details == {"codespace": "clob", "chain_code": 2003}
    assert store.rows[order.id].status is OrderStatus.OPEN


# --- item 12: no pooled connection across the chain call --------------------------------------


async def test_cancels_hold_no_connection_while_the_chain_answers(env: Any) -> None:
    store, exchange, service = env
    orders = await _open_orders(store, service, 3)
    await service.cancel(orders[0].id, Caller())
    await service.cancel_many(Caller(), order_ids=[o.id for o in orders[1:]])
    assert exchange.held_at_cancel == [0, 0]


# --- item 9: close_position replays ----------------------------------------------------------


async def test_a_close_retried_after_it_filled_returns_the_first_close(env: Any) -> None:
    _store, exchange, service = env
    exchange.positions = [Position("BTC-USD", Decimal("0.03"), None, None)]
    first = await service.close_position("BTC-USD", Caller(), idempotency_key="close-1")
    assert not first.replayed and first.order.side is Side.SELL
    # Filled: the position is gone. The retry is the first answer, not 404 no_position.
    exchange.positions = []
    again = await service.close_position("BTC-USD", Caller(), idempotency_key="close-1")
    assert again.replayed and again.order.id == first.order.id
    # Partly filled: a smaller position left. Still the first close, not a 409.
    exchange.positions = [Position("BTC-USD", Decimal("0.01"), None, None)]
    again = await service.close_position("BTC-USD", Caller(), idempotency_key="close-1")
    assert again.replayed and again.order.id == first.order.id
    assert len(exchange.broadcasts) == 1
    # The same key for another close is a conflict, as for placements.
    with pytest.raises(IdempotencyConflict):
        await service.close_position(
            "BTC-USD", Caller(), size=Decimal("0.01"), idempotency_key="close-1"
        )


# --- item 11: only market orders depend on the oracle price -----------------------------------


class StalePrices(RecordingExchange):
    def oracle_price(self, ticker: str) -> Decimal | None:
        raise PriceStale(f"the {ticker} oracle price is stale", market=ticker)


async def test_a_stale_oracle_price_refuses_market_orders_only() -> None:
    store = FakeStore()
    exchange = StalePrices(store)
    exchange.held_at_cancel = []
    service = OrderService(uow=lambda: FakeUnitOfWork(store), exchange=exchange)
    placed = await service.place(limit_buy(), Caller())
    assert placed.order.status is OrderStatus.SUBMITTED
    market = OrderRequest(
        market="BTC-USD", side=Side.BUY, type=OrderType.MARKET, size=Decimal("0.01")
    )
    with pytest.raises(PriceStale):
        await service.place(PlaceOrder(request=market, subaccount_number=0), Caller())
    assert len(store.rows) == 1  # nothing stored for the refused one
