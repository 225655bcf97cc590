"""The indexer's rows: what the real indexer keeps in Postgres and Redis, and its statuses.

Amounts stay chain integers (quantums, subticks, quote quantums) except the position prices and
PnL, which Ender itself stores as exact decimals. `views.py` renders them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from dydx_devnet.events import RemovalStatus, TransferKind
from dydx_devnet.indexer import ids
from dydx_devnet.model import (
    ConditionType,
    Liquidity,
    Market,
    Order,
    OrderFlags,
    OrderId,
    Side,
    SubaccountId,
    TimeInForce,
)

# Orders the real indexer keeps per subaccount are unbounded; fills, transfers and pnl ticks here
# are capped so a long benchmark run does not grow without bound. Far above `API_LIMIT_V4` (1000).
MAX_ROWS_PER_SUBACCOUNT = 10_000
# The internal TWAP suborder flag (`protocol/x/clob/types/order_id.go`).
TWAP_SUBORDER_FLAG = 256


class Status:
    """Order statuses (`postgres/src/types/order-types.ts`, `OrderStatus` + BEST_EFFORT_OPENED)."""

    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    BEST_EFFORT_CANCELED = "BEST_EFFORT_CANCELED"
    UNTRIGGERED = "UNTRIGGERED"
    BEST_EFFORT_OPENED = "BEST_EFFORT_OPENED"


API_ORDER_STATUSES = (
    Status.OPEN,
    Status.FILLED,
    Status.CANCELED,
    Status.BEST_EFFORT_CANCELED,
    Status.UNTRIGGERED,
    "ERROR",
    Status.BEST_EFFORT_OPENED,
)

REMOVAL_STATUS = {
    RemovalStatus.BEST_EFFORT_CANCELED: Status.BEST_EFFORT_CANCELED,
    RemovalStatus.CANCELED: Status.CANCELED,
    RemovalStatus.FILLED: Status.FILLED,
}


def order_type(order: Order) -> str:
    """`protocolConditionTypeToOrderType` (`postgres/src/lib/protocol-translations.ts`)."""
    flags = order.order_id.order_flags
    if flags == OrderFlags.CONDITIONAL:
        if order.condition_type == ConditionType.STOP_LOSS:
            return "STOP_LIMIT"
        if order.condition_type == ConditionType.TAKE_PROFIT:
            return "TAKE_PROFIT"
        return "LIMIT"
    if flags == OrderFlags.TWAP:
        return "TWAP"
    if flags == TWAP_SUBORDER_FLAG:
        return "TWAP_SUBORDER"
    return "LIMIT"


def order_uuid(order_id: OrderId) -> str:
    s = order_id.subaccount_id
    return ids.order_uuid(
        s.owner, s.number, order_id.client_id, order_id.clob_pair_id, order_id.order_flags
    )


def order_status_after_fill(total_filled: int, order: Order, canceled_status: str | None) -> str:
    """`dydx_get_order_status.sql` (ender), applied to an order's row after each fill."""
    if total_filled >= order.quantums:
        return Status.FILLED
    if order.order_id.order_flags in (OrderFlags.LONG_TERM, TWAP_SUBORDER_FLAG):
        return Status.OPEN
    if order.time_in_force == TimeInForce.FILL_OR_KILL:
        return Status.FILLED
    if order.time_in_force == TimeInForce.IOC:
        return Status.CANCELED
    if canceled_status is not None:
        return canceled_status
    return Status.OPEN


@dataclass(slots=True)
class OrderRow:
    """A row of Postgres `orders` (only stateful orders and orders that got a fill)."""

    uuid: str
    order: Order
    status: str
    total_filled: int
    type: str
    created_at_height: int
    created_at: datetime
    updated_at: datetime
    updated_at_height: int
    removal_reason: str | None = None


@dataclass(slots=True)
class CachedOrder:
    """An entry of Redis `OrdersCache`: an order on a book (or an untriggered conditional one)."""

    uuid: str
    order: Order
    total_filled: int
    untriggered: bool

    def book_quantums(self) -> int:
        """What this order adds to its price level: IOC orders never rest."""
        if self.untriggered or self.order.time_in_force == TimeInForce.IOC:
            return 0
        return max(self.order.quantums - self.total_filled, 0)


@dataclass(frozen=True, slots=True)
class FillRow:
    uuid: str
    subaccount_id: SubaccountId
    side: Side
    liquidity: Liquidity
    clob_pair_id: int
    quantums: int
    subticks: int
    quote_quantums: int
    fee_quote_quantums: int
    created_at: datetime
    created_at_height: int
    order_uuid: str
    client_metadata: int
    event_id: bytes
    tx_hash: str


@dataclass(slots=True)
class PositionRow:
    """A row of Postgres `perpetual_positions`; prices are exact human decimals (Ender stores
    them as `numeric`)."""

    uuid: str
    perpetual_id: int
    side: str  # LONG | SHORT
    status: str  # OPEN | CLOSED
    size: int  # signed base quantums
    max_size: int  # signed, as `dydx_subaccount_update_handler.sql` keeps it
    entry_price: Decimal
    exit_price: Decimal | None
    sum_open: int  # base quantums
    sum_close: int
    realized_pnl: Decimal  # USDC
    net_funding: Decimal  # USDC credited by funding
    created_at: datetime
    created_at_height: int
    closed_at: datetime | None = None
    closed_at_height: int | None = None


@dataclass(frozen=True, slots=True)
class TransferRow:
    uuid: str
    kind: TransferKind
    sender: SubaccountId | None
    recipient: SubaccountId | None
    quantums: int
    created_at: datetime
    created_at_height: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class PnlTick:
    equity: Decimal
    total_pnl: Decimal
    net_transfers: Decimal
    created_at: datetime
    block_height: int
    block_time: datetime


@dataclass(slots=True)
class SubaccountRow:
    id: SubaccountId
    uuid: str
    updated_at_height: int
    updated_at: datetime
    usdc_quantums: int = 0
    net_transfers: int = 0  # quote quantums in (deposits, transfers in) minus out
    open_positions: dict[int, PositionRow] = field(default_factory=dict)
    positions: list[PositionRow] = field(default_factory=list)  # every position, oldest first
    fills: deque[FillRow] = field(default_factory=lambda: deque(maxlen=MAX_ROWS_PER_SUBACCOUNT))
    transfers: deque[TransferRow] = field(
        default_factory=lambda: deque(maxlen=MAX_ROWS_PER_SUBACCOUNT)
    )
    pnl_ticks: deque[PnlTick] = field(default_factory=lambda: deque(maxlen=MAX_ROWS_PER_SUBACCOUNT))
    order_uuids: set[str] = field(default_factory=set)  # Postgres rows and Redis entries


@dataclass(slots=True)
class MarketRow:
    market: Market
    oracle_price: Decimal
    oracle_effective_at: datetime
    oracle_effective_height: int
    # (time, base quantums, quote quantums) of taker fills in the last 24 h.
    trades: deque[tuple[datetime, int, int]] = field(default_factory=deque)
    bids: dict[int, int] = field(default_factory=dict)  # subticks -> quantums
    asks: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WsMessage:
    """One socks `channel_data` payload: ``id`` is None for the id-less channels."""

    channel: str
    id: str | None
    contents: dict[str, Any]
