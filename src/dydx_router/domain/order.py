"""The order as the router knows it, and its lifecycle as one transition table.

Pure: stdlib and decimal only. The chain's own identifiers (``client_id``, ``order_flags``,
``clob_pair_id``) are kept apart from ours (``id``) and the caller's (``client_order_id``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum

from dydx_router.domain.errors import IllegalTransition

# Re-exported: orders speak of sides too; one definition lives with the market grid.
from dydx_router.domain.market import Side as Side

# OrderId.client_id is fixed32 on the wire (proto/dydxprotocol/clob/order.proto).
MAX_CLIENT_ID = 2**32 - 1


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_LIMIT = "STOP_LIMIT"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"


class TimeInForce(StrEnum):
    GTT = "GTT"
    IOC = "IOC"
    POST_ONLY = "POST_ONLY"


class OrderFlags(IntEnum):
    """OrderId.order_flags values (protocol/x/clob/types/order_id.go)."""

    SHORT_TERM = 0
    CONDITIONAL = 32
    LONG_TERM = 64


class OrderStatus(StrEnum):
    PENDING = "PENDING"  # persisted, not yet broadcast
    SUBMITTED = "SUBMITTED"  # CheckTx accepted
    UNTRIGGERED = "UNTRIGGERED"  # conditional order waiting for its trigger
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"  # definitive CheckTx error
    UNKNOWN = "UNKNOWN"  # timeout or transport error: the outcome is not known

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
)

_S = OrderStatus
# Outcomes reachable once the chain holds the order (from a fill, a cancel, an expiry, a trigger).
_LIVE = frozenset(
    {_S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCEL_REQUESTED, _S.CANCELED, _S.EXPIRED}
)

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    # CANCELED only when provably never broadcast; CANCEL_REQUESTED: a cancel-all reached the
    # order while its placement was in flight, or left by a crash (service/orders.py).
    _S.PENDING: frozenset(
        {_S.SUBMITTED, _S.REJECTED, _S.UNKNOWN, _S.CANCEL_REQUESTED, _S.CANCELED}
    ),
    _S.SUBMITTED: _LIVE | {_S.UNTRIGGERED, _S.UNKNOWN},
    _S.UNTRIGGERED: _LIVE,
    _S.OPEN: _LIVE - {_S.OPEN},
    _S.PARTIALLY_FILLED: _LIVE - {_S.OPEN, _S.PARTIALLY_FILLED},
    # A cancel is best effort (dydxprotocol/v4-documentation PR #265): the order may still fill,
    # expire, or the cancel may be refused and the order stays live.
    # REJECTED: the placement of an order a cancel-all reached while PENDING was refused.
    _S.CANCEL_REQUESTED: frozenset(
        {
            _S.REJECTED,
            _S.SUBMITTED,
            _S.OPEN,
            _S.UNTRIGGERED,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.CANCELED,
            _S.EXPIRED,
        }
    ),
    # The reconciler settles an UNKNOWN order to whatever the chain and indexer say.
    _S.UNKNOWN: _LIVE | {_S.SUBMITTED, _S.UNTRIGGERED, _S.REJECTED},
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.REJECTED: frozenset(),
}


def check_transition(current: OrderStatus, new: OrderStatus) -> None:
    """Raise IllegalTransition unless ``current -> new`` is in the table."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(
            f"order status cannot change from {current} to {new}",
            from_status=str(current),
            to_status=str(new),
        )


@dataclass(frozen=True, slots=True)
class ChainError:
    """A chain rejection as reported by CheckTx: (codespace, code) plus the raw log."""

    codespace: str
    code: int
    log: str


@dataclass(slots=True)
class Order:
    id: uuid.UUID
    market: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    size: Decimal
    price: Decimal | None
    quantums: int
    subticks: int
    client_id: int
    order_flags: int
    clob_pair_id: int
    address: str
    subaccount_number: int
    indexer_order_id: uuid.UUID
    status: OrderStatus = OrderStatus.PENDING
    reduce_only: bool = False
    post_only: bool = False
    trigger_price: Decimal | None = None
    trigger_subticks: int | None = None
    good_til_block: int | None = None
    good_til_block_time: datetime | None = None
    client_order_id: str | None = None
    api_key_id: uuid.UUID | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None
    slippage_bps: int | None = None
    # What the caller (an AI agent, an operator's tool) said it placed / canceled the order for.
    placement_reason: str | None = None
    cancel_reason: str | None = None
    filled_size: Decimal = Decimal(0)
    average_fill_price: Decimal | None = None
    tx_hash: str | None = None
    signed_tx: bytes | None = None
    last_error: ChainError | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    history: list[StatusChange] = field(default_factory=list)

    @property
    def is_short_term(self) -> bool:
        return self.order_flags == OrderFlags.SHORT_TERM


@dataclass(frozen=True, slots=True)
class StatusChange:
    from_status: OrderStatus | None
    to_status: OrderStatus
    reason: str
    chain_height: int | None
    at: datetime
