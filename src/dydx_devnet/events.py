"""What happens on the devnet, as a stream of frozen events, and the bus that fans it out.

Contract for consumers (the indexer):

- The engine publishes :class:`EventBatch` objects to the :class:`EventBus`. Every subscriber
  receives every batch published after it subscribed, in publish order, without loss (queues are
  unbounded; a subscriber that stops reading only costs memory until it closes).
- Two kinds of batch, mirroring the real chain's two indexer feeds:

  * **off-chain** (``batch.block is None``): what a full node's memclob does during CheckTx and
    what Vulcan turns into ``BEST_EFFORT_*`` statuses: a short-term order placed
    (``OrderPlaced`` with ``PlacementStatus.BEST_EFFORT_OPENED``), replaced, cancelled
    (``OrderRemoved`` with ``RemovalStatus.BEST_EFFORT_CANCELED``), or its optimistic fill
    total (``OrderUpdated``). Its events carry ``height`` = the latest *committed* height and
    ``time`` = the wall-clock moment of the CheckTx.
  * **on-chain** (``batch.block`` is the :class:`BlockCommitted` closing it, also the last event
    of ``batch.events``): everything the block did, in the order it happened. First what
    arrived since the last block: deposits (``Transfer`` then ``SubaccountUpdated``) and fills
    matched in CheckTx (each ``Fill`` followed by the two ``SubaccountUpdated`` it caused, and
    ``OrderRemoved(FULLY_FILLED)`` for an order it completed; ``Fill`` carries each order's new
    total filled amount). Then the block's own work: oracle price updates, the stateful txs
    (``OrderRemoved(USER_CANCELED)``, ``OrderPlaced(OPENED)`` and any fills of the new order),
    expiries (``OrderRemoved(EXPIRED)``), conditional triggers (``OrderTriggered`` and fills),
    market-maker requotes. Every event carries the block's ``height`` and ``time``.

- Amounts are chain integers (quantums, subticks, quote quantums, ppm). Convert with
  :class:`dydx_devnet.model.Market` (``market.size(q)``, ``market.price(subticks)``;
  USDC = quote quantums / 1e6).
- ``SubaccountUpdated`` carries the full snapshot after the change, so a consumer never needs to
  apply deltas. Fees are signed quote quantums paid by the subaccount (negative = rebate).
- Short-term orders reach on-chain batches only through their fills and removals (an unfilled
  short-term order is never part of a block: v4-chain `protocol/app/process/utils_disallow_msgs.go`
  IsDisallowClobOrderMsgInOtherTxs).

Usage::

    sub = devnet.bus.subscribe()
    async for batch in sub:          # until sub.close() or bus.close()
        for event in batch.events:
            match event:
                case Fill(): ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Protocol

from dydx_devnet.model import (
    Liquidity,
    Order,
    OrderId,
    Side,
    Subaccount,
    SubaccountId,
)


class PlacementStatus(IntEnum):
    """`OrderPlaceV1.OrderPlacementStatus` (proto dydxprotocol/indexer/off_chain_updates)."""

    BEST_EFFORT_OPENED = 1
    OPENED = 2


class RemovalStatus(IntEnum):
    """`OrderRemoveV1.OrderRemovalStatus`."""

    BEST_EFFORT_CANCELED = 1
    CANCELED = 2
    FILLED = 3


class RemovalReason(IntEnum):
    """`OrderRemovalReason` (proto dydxprotocol/indexer/shared/removal_reason.proto)."""

    UNSPECIFIED = 0
    EXPIRED = 1
    USER_CANCELED = 2
    UNDERCOLLATERALIZED = 3
    INTERNAL_ERROR = 4
    SELF_TRADE_ERROR = 5
    POST_ONLY_WOULD_CROSS_MAKER_ORDER = 6
    IMMEDIATE_OR_CANCEL_WOULD_REST_ON_BOOK = 7
    FOK_ORDER_COULD_NOT_BE_FULLY_FULLED = 8
    REDUCE_ONLY_RESIZE = 9
    INDEXER_EXPIRED = 10
    REPLACED = 11
    FULLY_FILLED = 12
    EQUITY_TIER = 13
    FINAL_SETTLEMENT = 14
    VIOLATES_ISOLATED_SUBACCOUNT_CONSTRAINTS = 15


class TransferKind(IntEnum):
    DEPOSIT = 1  # from outside (genesis funding, --fund, faucet)
    TRANSFER = 2  # subaccount to subaccount
    WITHDRAWAL = 3


@dataclass(frozen=True, slots=True)
class BlockCommitted:
    """The last event of each on-chain batch. ``tx_hashes`` are the txs included (stateful
    placements and cancels; short-term txs are never included,
    ``protocol/app/process/utils_disallow_msgs.go``)."""

    height: int
    time: datetime
    tx_hashes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OrderPlaced:
    """An order entered the book (or, for a conditional order, the untriggered set:
    ``untriggered`` is then True). ``tx_hash`` is the placing tx."""

    order: Order
    status: PlacementStatus
    height: int
    time: datetime
    tx_hash: str
    untriggered: bool = False


@dataclass(frozen=True, slots=True)
class OrderReplaced:
    """A short-term order was replaced by one with the same OrderId (memclob replacement)."""

    old_order: Order
    order: Order
    height: int
    time: datetime
    tx_hash: str


@dataclass(frozen=True, slots=True)
class OrderTriggered:
    """A conditional order's trigger condition met the oracle price; it now rests/matches."""

    order: Order
    height: int
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderUpdated:
    """The total filled amount of an order changed."""

    order_id: OrderId
    total_filled_quantums: int
    height: int
    time: datetime


@dataclass(frozen=True, slots=True)
class OrderRemoved:
    order_id: OrderId
    reason: RemovalReason
    status: RemovalStatus
    height: int
    time: datetime


@dataclass(frozen=True, slots=True)
class FillSide:
    """One side of a fill. ``fee_quote_quantums`` is what this subaccount paid (negative =
    rebate). ``total_filled_quantums`` is the order's filled amount after this fill.
    ``position_quantums_before`` is the signed position before this fill."""

    subaccount_id: SubaccountId
    order: Order
    side: Side
    liquidity: Liquidity
    fee_quote_quantums: int
    fee_ppm: int
    total_filled_quantums: int
    position_quantums_before: int


@dataclass(frozen=True, slots=True)
class Fill:
    """A match. ``quote_quantums`` = floor(quantums * subticks * 10**qce); the maker's price
    (``subticks``) is the fill price. ``tx_hash`` is the taker's tx."""

    clob_pair_id: int
    perpetual_id: int
    maker: FillSide
    taker: FillSide
    quantums: int
    subticks: int
    quote_quantums: int
    height: int
    time: datetime
    tx_hash: str
    fill_id: int  # unique, increasing across the devnet's life


@dataclass(frozen=True, slots=True)
class SubaccountUpdated:
    """The full subaccount after a change (fill, transfer, funding)."""

    subaccount: Subaccount
    height: int
    time: datetime


@dataclass(frozen=True, slots=True)
class OraclePriceUpdated:
    """Human price = ``price * 10**exponent``."""

    market_id: int
    price: int
    exponent: int
    height: int
    time: datetime


@dataclass(frozen=True, slots=True)
class Transfer:
    """USDC moved into (DEPOSIT, ``sender`` None), between or out of subaccounts."""

    kind: TransferKind
    sender: SubaccountId | None
    recipient: SubaccountId | None
    asset_id: int
    quantums: int
    height: int
    time: datetime
    tx_hash: str


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """Funding settled on a position: ``payment_quote_quantums`` was credited to the
    subaccount (negative = paid). ``funding_index`` is the perpetual's index after the update."""

    subaccount_id: SubaccountId
    perpetual_id: int
    position_quantums: int
    payment_quote_quantums: int
    funding_index: int
    height: int
    time: datetime


Event = (
    BlockCommitted
    | OrderPlaced
    | OrderReplaced
    | OrderTriggered
    | OrderUpdated
    | OrderRemoved
    | Fill
    | SubaccountUpdated
    | OraclePriceUpdated
    | Transfer
    | FundingPayment
)

EventFactory = Callable[..., Event]  # called as make(height=..., time=...)


class EventSink(Protocol):
    """Where the memclob sends what it does: off-chain (now) or on-chain (with the block)."""

    def offchain(self, make: EventFactory) -> None: ...

    def onchain(self, make: EventFactory) -> None: ...


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events published together. ``block`` is set for on-chain batches (see module doc)."""

    events: tuple[Event, ...]
    block: BlockCommitted | None = None


class Subscription:
    """An ordered, lossless stream of batches. Iterate with ``async for``; ``close()`` ends it."""

    __slots__ = ("_bus", "_closed", "_queue")

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[EventBatch | None] = asyncio.Queue()
        self._closed = False

    def _put(self, batch: EventBatch | None) -> None:
        self._queue.put_nowait(batch)

    def pending(self) -> int:
        """Batches published but not yet taken."""
        return self._queue.qsize()

    async def get(self) -> EventBatch | None:
        """The next batch, or None once the subscription or the bus is closed."""
        if self._closed and self._queue.empty():
            return None
        batch = await self._queue.get()
        if batch is None:
            self._closed = True
        return batch

    def drain(self) -> list[EventBatch]:
        """Take every batch already published, without waiting."""
        out: list[EventBatch] = []
        while not self._queue.empty():
            batch = self._queue.get_nowait()
            if batch is None:
                self._closed = True
                break
            out.append(batch)
        return out

    def close(self) -> None:
        if self._bus._unsubscribe(self):
            self._put(None)

    def __aiter__(self) -> AsyncIterator[EventBatch]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[EventBatch]:
        while (batch := await self.get()) is not None:
            yield batch


class EventBus:
    """Synchronous publish (the engine never awaits), asynchronous fan-out to subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self._closed = False

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        if self._closed:
            sub._put(None)
        else:
            self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> bool:
        if sub in self._subscribers:
            self._subscribers.remove(sub)
            return True
        return False

    def publish(self, batch: EventBatch) -> None:
        if not batch.events:
            return
        for sub in self._subscribers:
            sub._put(batch)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def close(self) -> None:
        """End every subscription (their iterators finish after draining)."""
        self._closed = True
        for sub in self._subscribers:
            sub._put(None)
        self._subscribers.clear()
