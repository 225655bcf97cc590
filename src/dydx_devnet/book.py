"""A price-time priority order book for one clob pair (the memclob's resting orders).

Levels are kept as insertion-ordered dicts (FIFO = time priority) in a dict keyed by subticks,
with a sorted list of the prices present, so placing, cancelling and walking the best levels are
O(log n) or O(1) per order.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

from dydx_devnet.model import OpenOrder, Order, OrderId


class RestingOrder:
    """Mutable record of an order the devnet holds (book or untriggered set)."""

    __slots__ = (
        "authenticators",
        "filled",
        "order",
        "placed_at_ms",
        "placed_height",
        "triggered",
        "tx_hash",
    )

    def __init__(
        self,
        order: Order,
        *,
        placed_height: int,
        tx_hash: str,
        placed_at_ms: int,
        filled: int = 0,
        triggered: bool = True,
        authenticators: tuple[int, ...] = (),
    ) -> None:
        self.order = order
        # x/accountplus: the authenticators the placing tx selected (short-term orders only)
        self.authenticators = authenticators
        self.filled = filled
        self.placed_height = placed_height
        self.tx_hash = tx_hash
        self.placed_at_ms = placed_at_ms
        self.triggered = triggered

    @property
    def remaining(self) -> int:
        return self.order.quantums - self.filled

    def copy(self) -> RestingOrder:
        return RestingOrder(
            self.order,
            placed_height=self.placed_height,
            tx_hash=self.tx_hash,
            placed_at_ms=self.placed_at_ms,
            filled=self.filled,
            triggered=self.triggered,
            authenticators=self.authenticators,
        )

    def snapshot(self) -> OpenOrder:
        return OpenOrder(
            order=self.order,
            filled_quantums=self.filled,
            placed_height=self.placed_height,
            tx_hash=self.tx_hash,
            triggered=self.triggered,
            placed_at_ms=self.placed_at_ms,
        )


@dataclass(frozen=True, slots=True)
class Level:
    subticks: int
    quantums: int  # total remaining quantums at this price


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Aggregated levels: bids best (highest) first, asks best (lowest) first."""

    clob_pair_id: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class _Side:
    __slots__ = ("descending", "levels", "prices")

    def __init__(self, descending: bool) -> None:
        self.levels: dict[int, dict[OrderId, RestingOrder]] = {}
        self.prices: list[int] = []  # ascending
        self.descending = descending

    def add(self, r: RestingOrder) -> None:
        p = r.order.subticks
        level = self.levels.get(p)
        if level is None:
            level = self.levels[p] = {}
            bisect.insort(self.prices, p)
        level[r.order.order_id] = r

    def remove(self, r: RestingOrder) -> None:
        p = r.order.subticks
        level = self.levels[p]
        del level[r.order.order_id]
        if not level:
            del self.levels[p]
            i = bisect.bisect_left(self.prices, p)
            del self.prices[i]

    def best_price(self) -> int | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.descending else self.prices[0]

    def prices_best_first(self) -> Iterator[int]:
        return reversed(self.prices) if self.descending else iter(self.prices)

    def orders_best_first(self) -> Iterator[RestingOrder]:
        for p in list(self.prices_best_first()):
            level = self.levels.get(p)
            if level is not None:
                yield from list(level.values())

    def aggregated(self) -> tuple[Level, ...]:
        return tuple(
            Level(p, sum(r.remaining for r in self.levels[p].values()))
            for p in self.prices_best_first()
        )


class OrderBook:
    def __init__(self, clob_pair_id: int) -> None:
        self.clob_pair_id = clob_pair_id
        self.bids = _Side(descending=True)
        self.asks = _Side(descending=False)
        self.orders: dict[OrderId, RestingOrder] = {}

    def side_of(self, order: Order) -> _Side:
        return self.bids if order.is_buy else self.asks

    def opposite_of(self, order: Order) -> _Side:
        return self.asks if order.is_buy else self.bids

    def add(self, r: RestingOrder) -> None:
        self.orders[r.order.order_id] = r
        self.side_of(r.order).add(r)

    def remove(self, order_id: OrderId) -> RestingOrder | None:
        r = self.orders.pop(order_id, None)
        if r is not None:
            self.side_of(r.order).remove(r)
        return r

    def get(self, order_id: OrderId) -> RestingOrder | None:
        return self.orders.get(order_id)

    def copy(self) -> OrderBook:
        """An independent copy with the same price-time priority (levels keep their FIFO)."""
        out = OrderBook(self.clob_pair_id)
        for side, mine in ((out.bids, self.bids), (out.asks, self.asks)):
            for p in mine.prices:
                for r in mine.levels[p].values():
                    c = r.copy()
                    out.orders[c.order.order_id] = c
                    side.add(c)
        return out

    def best_bid(self) -> int | None:
        return self.bids.best_price()

    def best_ask(self) -> int | None:
        return self.asks.best_price()

    def snapshot(self) -> BookSnapshot:
        return BookSnapshot(self.clob_pair_id, self.bids.aggregated(), self.asks.aggregated())
