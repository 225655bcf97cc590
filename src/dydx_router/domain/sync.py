"""How what the venue reports maps onto our order's lifecycle. Pure.

The indexer's statuses are not all final (v4-chain ``indexer/services/vulcan``;
dydxprotocol/v4-documentation #376, PR #265; dydxprotocol/v4-chain PR #658):
- BEST_EFFORT_OPENED and BEST_EFFORT_CANCELED are optimistic (the order is only in the memclob);
  a short-term order's outcome is final only once the chain height passes its good-til-block.
- An unfilled short-term order disappears from REST after cancel or expiry (404).
- An IOC filled across several matches can show CANCELED then FILLED (v4-chain PR #658), so a
  fill always wins over a cancel, and filled size never goes down.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from dydx_router.domain.order import TRANSITIONS, Order, OrderStatus


class VenueStatus(StrEnum):
    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    BEST_EFFORT_CANCELED = "BEST_EFFORT_CANCELED"
    BEST_EFFORT_OPENED = "BEST_EFFORT_OPENED"
    UNTRIGGERED = "UNTRIGGERED"
    ERROR = "ERROR"


REMOVED_BY_EXPIRY = "ORDER_REMOVAL_REASON_EXPIRED"


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """The venue's view of one order (from the indexer's REST or websocket)."""

    status: VenueStatus
    total_filled: Decimal
    average_fill_price: Decimal | None = None
    removal_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Settlement:
    """What to write: the new status (None: unchanged) and the fill figures."""

    status: OrderStatus | None
    filled_size: Decimal
    average_fill_price: Decimal | None
    reason: str


def settle(
    order: Order, venue: VenueOrder | None, height: int | None, now: datetime | None = None
) -> Settlement | None:
    """The change ``venue`` (None: the indexer does not know the order) implies for ``order`` at
    chain ``height`` and time ``now``; None when nothing is to be written."""
    filled = order.filled_size
    avg = order.average_fill_price
    if venue is not None and venue.total_filled > filled:
        filled = min(venue.total_filled, order.size)
        avg = venue.average_fill_price or avg
    expired = is_expired(order, height, now)
    target = _target(order, venue, filled, expired)
    reason = _reason(venue, expired)
    if target is not None and (target is order.status or target not in TRANSITIONS[order.status]):
        target = None
    if target is None and filled == order.filled_size and avg == order.average_fill_price:
        return None
    return Settlement(target, filled, avg, reason)


def average_fill_price(
    fills: Iterable[tuple[Decimal, Decimal]], tick_size: Decimal | None
) -> Decimal | None:
    """The size-weighted price of ``(price, size)`` fills (None without any), to a tenth of the
    market's tick: finer than any real price difference, and the same figure whether the fills
    came from the indexer's REST API or its websocket."""
    size = Decimal(0)
    value = Decimal(0)
    for price, qty in fills:
        size += qty
        value += price * qty
    if not size:
        return None
    avg = value / size
    return avg.quantize(tick_size / 10) if tick_size is not None else avg


def is_expired(order: Order, height: int | None, now: datetime | None) -> bool:
    """Past its good-til-block (short-term) or its good-til-block-time (stateful).

    The chain compares a stateful order's time with the previous block's time
    (``proto/dydxprotocol/clob/order.proto`` good_til_block_time); wall-clock ``now`` is at most a
    block behind that, so it never expires an order early by more than a block.
    """
    if order.is_short_term:
        return (
            order.good_til_block is not None
            and height is not None
            and height > order.good_til_block
        )
    gtbt = order.good_til_block_time
    return gtbt is not None and now is not None and now > gtbt


def _target(
    order: Order, venue: VenueOrder | None, filled: Decimal, expired: bool
) -> OrderStatus | None:
    if filled >= order.size:
        return OrderStatus.FILLED
    if venue is None:
        if not expired:
            return None  # not (yet) indexed: wait for more information
        if order.status is OrderStatus.CANCEL_REQUESTED:
            return OrderStatus.CANCELED
        return OrderStatus.EXPIRED
    status = venue.status
    if status is VenueStatus.FILLED:
        return OrderStatus.FILLED
    if status is VenueStatus.CANCELED:
        # The indexer names the cause of a removal (OrderRemovalReason, v4-proto
        # indexer/off_chain_updates): an expiry is one even before our height shows it.
        by_expiry = expired or venue.removal_reason == REMOVED_BY_EXPIRY
        if by_expiry and order.status is not OrderStatus.CANCEL_REQUESTED:
            return OrderStatus.EXPIRED
        return OrderStatus.CANCELED
    if status is VenueStatus.BEST_EFFORT_CANCELED:
        # Optimistic: final only once the good-til-block has passed (dydxprotocol/v4-documentation
        # PR #265).
        if expired:
            return OrderStatus.CANCELED
        return (
            None if order.status is OrderStatus.CANCEL_REQUESTED else OrderStatus.CANCEL_REQUESTED
        )
    if status is VenueStatus.UNTRIGGERED:
        return OrderStatus.UNTRIGGERED
    if status in (VenueStatus.OPEN, VenueStatus.BEST_EFFORT_OPENED):
        if expired:
            return OrderStatus.EXPIRED
        if order.status is OrderStatus.CANCEL_REQUESTED and filled == order.filled_size:
            return None  # the cancel is in flight; an open report is older news
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
    return None


def _reason(venue: VenueOrder | None, expired: bool) -> str:
    if venue is None:
        return "not on the indexer after its expiry" if expired else "not indexed yet"
    text = f"indexer: {venue.status.value}"
    if venue.removal_reason:
        text += f" ({venue.removal_reason})"
    if expired:
        text += ", expiry passed"
    return text
