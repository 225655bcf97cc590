from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from dydx_router.domain.market import Side
from dydx_router.domain.order import Order, OrderStatus, OrderType, TimeInForce
from dydx_router.domain.sync import REMOVED_BY_EXPIRY, VenueOrder, VenueStatus, settle


def order(status: OrderStatus = OrderStatus.SUBMITTED, **kw: Any) -> Order:
    base: dict[str, Any] = {
        "id": uuid.uuid4(),
        "market": "BTC-USD",
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "time_in_force": TimeInForce.GTT,
        "size": Decimal("1"),
        "price": Decimal("100"),
        "quantums": 1,
        "subticks": 1,
        "client_id": 1,
        "order_flags": 0,
        "clob_pair_id": 0,
        "address": "dydx1x",
        "subaccount_number": 0,
        "indexer_order_id": uuid.uuid4(),
        "status": status,
        "good_til_block": 100,
    }
    base.update(kw)
    return Order(**base)


def venue(status: VenueStatus, filled: str = "0", avg: str | None = None) -> VenueOrder:
    return VenueOrder(status, Decimal(filled), None if avg is None else Decimal(avg))


def test_a_removal_by_expiry_is_expired_even_before_our_height_shows_it() -> None:
    removed = VenueOrder(VenueStatus.CANCELED, Decimal(0), removal_reason=REMOVED_BY_EXPIRY)
    s = settle(order(OrderStatus.OPEN), removed, 99)  # good til block 100
    assert s is not None and s.status is OrderStatus.EXPIRED
    by_user = VenueOrder(VenueStatus.CANCELED, Decimal(0), removal_reason="USER_CANCELED")
    s = settle(order(OrderStatus.OPEN), by_user, 99)
    assert s is not None and s.status is OrderStatus.CANCELED
    # A cancel the caller asked for stays a cancel, whatever ended the order first.
    s = settle(order(OrderStatus.CANCEL_REQUESTED), removed, 99)
    assert s is not None and s.status is OrderStatus.CANCELED


def test_open_then_partial_then_filled_with_average_price() -> None:
    o = order()
    s = settle(o, venue(VenueStatus.BEST_EFFORT_OPENED), 50)
    assert s is not None and s.status is OrderStatus.OPEN
    s = settle(order(OrderStatus.OPEN), venue(VenueStatus.OPEN, "0.4", "101"), 51)
    assert s is not None and s.status is OrderStatus.PARTIALLY_FILLED
    assert s.filled_size == Decimal("0.4") and s.average_fill_price == Decimal("101")
    s = settle(
        order(OrderStatus.PARTIALLY_FILLED, filled_size=Decimal("0.4")),
        venue(VenueStatus.FILLED, "1", "100.5"),
        52,
    )
    assert s is not None and s.status is OrderStatus.FILLED


def test_fill_wins_over_an_earlier_cancel_report() -> None:
    # An IOC filled across matches showed CANCELED then FILLED (v4-chain PR #658).
    s = settle(order(), venue(VenueStatus.CANCELED, "1", "100"), 50)
    assert s is not None and s.status is OrderStatus.FILLED


def test_best_effort_cancel_is_not_final_until_the_good_til_block_passes() -> None:
    s = settle(order(OrderStatus.CANCEL_REQUESTED), venue(VenueStatus.BEST_EFFORT_CANCELED), 90)
    assert s is None
    s = settle(order(OrderStatus.CANCEL_REQUESTED), venue(VenueStatus.BEST_EFFORT_CANCELED), 101)
    assert s is not None and s.status is OrderStatus.CANCELED


def test_unknown_to_the_indexer() -> None:
    assert settle(order(), None, 100) is None  # not expired yet: wait
    s = settle(order(), None, 101)
    assert s is not None and s.status is OrderStatus.EXPIRED
    s = settle(order(OrderStatus.CANCEL_REQUESTED), None, 101)
    assert s is not None and s.status is OrderStatus.CANCELED
    # Stateful orders never expire by height.
    assert settle(order(order_flags=64, good_til_block=None), None, 10_000) is None


def test_filled_size_never_goes_down_and_no_op_is_none() -> None:
    o = order(
        OrderStatus.PARTIALLY_FILLED, filled_size=Decimal("0.5"), average_fill_price=Decimal("100")
    )
    assert settle(o, venue(VenueStatus.OPEN, "0.2", "99"), 50) is None


def test_stateful_orders_expire_by_time_not_height() -> None:
    from datetime import UTC, datetime

    gtbt = datetime(2026, 1, 1, tzinfo=UTC)
    o = order(order_flags=64, good_til_block=None, good_til_block_time=gtbt)
    assert settle(o, None, 10_000, datetime(2025, 12, 31, tzinfo=UTC)) is None
    s = settle(o, None, 10_000, datetime(2026, 1, 2, tzinfo=UTC))
    assert s is not None and s.status is OrderStatus.EXPIRED
