"""Vulcan's side of the indexer: the Redis order cache and book levels, and the order events
(placed, replaced, triggered, updated, removed) that change them and the order rows
(`vulcan/src/handlers/order-place-handler.ts`, `order-remove-handler.ts`,
`order-update-handler.ts`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dydx_devnet.events import (
    OrderPlaced,
    OrderReplaced,
    OrderTriggered,
    OrderUpdated,
    PlacementStatus,
    RemovalReason,
    RemovalStatus,
)
from dydx_devnet.indexer import views
from dydx_devnet.indexer.fmt import dec
from dydx_devnet.indexer.records import (
    REMOVAL_STATUS,
    CachedOrder,
    OrderRow,
    Status,
    SubaccountRow,
    WsMessage,
    order_type,
    order_uuid,
)
from dydx_devnet.indexer.tables import IndexerTables
from dydx_devnet.model import OrderId, Side


class OrderEvents(IndexerTables):
    """The order events' handlers and the cache and book they keep (mixed into `Projection`)."""

    # -- Redis order cache and book levels --
    def _cache_put(self, entry: CachedOrder) -> None:
        old = self.cache.get(entry.uuid)
        self._book_delta(old, -1)
        self.cache[entry.uuid] = entry
        self._book_delta(entry, +1)
        self._subaccount_for_order(entry.order.order_id).order_uuids.add(entry.uuid)

    def _cache_pop(self, uid: str) -> CachedOrder | None:
        entry = self.cache.pop(uid, None)
        self._book_delta(entry, -1)
        return entry

    def _cache_fill(self, uid: str, total_filled: int) -> None:
        entry = self.cache.get(uid)
        if entry is None:
            return
        self._book_delta(entry, -1)
        entry.total_filled = total_filled
        self._book_delta(entry, +1)

    def _book_delta(self, entry: CachedOrder | None, sign: int) -> None:
        if entry is None:
            return
        q = entry.book_quantums()
        if q == 0:
            return
        order = entry.order
        row = self.markets.get(order.order_id.clob_pair_id)
        if row is None:
            return
        side_name = "bids" if order.side == Side.BUY else "asks"
        levels = row.bids if order.side == Side.BUY else row.asks
        before = self._touched_books.setdefault(row.market.clob_pair_id, {"bids": {}, "asks": {}})
        before[side_name].setdefault(order.subticks, levels.get(order.subticks, 0))
        new = levels.get(order.subticks, 0) + sign * q
        if new > 0:
            levels[order.subticks] = new
        else:
            levels.pop(order.subticks, None)

    def _book_messages(self, touched: dict[int, dict[str, dict[int, int]]]) -> list[WsMessage]:
        """`createOrderbookWebsocketMessage` (vulcan `handler.ts`): each changed level with its
        new absolute size, "0" when emptied."""

        out = []
        for clob_pair_id, sides in touched.items():
            row = self.markets[clob_pair_id]
            contents: dict[str, Any] = {}
            for side_name, levels in (("bids", row.bids), ("asks", row.asks)):
                changed = [
                    [dec(row.market.price(p)), dec(row.market.size(levels.get(p, 0)))]
                    for p, before in sorted(sides[side_name].items())
                    if levels.get(p, 0) != before
                ]
                if changed:
                    contents[side_name] = changed
            if contents:
                out.append(WsMessage("v4_orderbook", row.market.ticker, contents))
        return out

    # -- orders --
    def _subaccount_for_order(self, order_id: OrderId) -> SubaccountRow:
        sid = order_id.subaccount_id
        row = self.subaccounts.get(sid)
        if row is None:
            t = self.block_time or self.state.block_time
            row = self._subaccount(sid, self.height or 0, t, create_only=True)
        return row

    def _on_placed(self, ev: OrderPlaced) -> list[WsMessage]:
        order = ev.order
        uid = order_uuid(order.order_id)
        filled = self._optimistic_filled.pop(uid, 0)
        existing = self.cache.get(uid)
        if existing is not None:
            filled = max(filled, existing.total_filled)
        row = self.rows.get(uid)
        if row is not None:
            filled = max(filled, row.total_filled)
        self._cache_put(CachedOrder(uid, order, filled, ev.untriggered))
        # `order-place-handler.ts`: a placement clears the order from CanceledOrdersCache.
        self.canceled.pop(uid, None)
        if not order.order_id.is_stateful:
            return [self._order_message(uid, ev.height)]
        if ev.status == PlacementStatus.BEST_EFFORT_OPENED:
            # Best-effort-opened is never sent to subaccounts for stateful orders; the row
            # comes from the block (`shouldSendSubaccountMessage`).
            return []
        status = Status.UNTRIGGERED if ev.untriggered else Status.OPEN
        if row is None:
            row = OrderRow(
                uid, order, status, filled, order_type(order), ev.height, ev.time, ev.time,
                ev.height,
            )  # fmt: skip
            self.rows[uid] = row
        else:
            row.order, row.status, row.updated_at, row.updated_at_height = (
                order, status, ev.time, ev.height,
            )  # fmt: skip
        return [self._order_message(uid, ev.height)]

    def _on_replaced(self, ev: OrderReplaced) -> list[WsMessage]:
        uid = order_uuid(ev.order.order_id)
        old = self.cache.get(uid)
        filled = old.total_filled if old is not None else 0
        self._cache_put(CachedOrder(uid, ev.order, filled, False))
        return [self._order_message(uid, ev.height)]

    def _on_triggered(self, ev: OrderTriggered) -> list[WsMessage]:
        uid = order_uuid(ev.order.order_id)
        old = self.cache.get(uid)
        self._cache_put(CachedOrder(uid, ev.order, old.total_filled if old else 0, False))
        row = self.rows.get(uid)
        if row is not None and row.status == Status.UNTRIGGERED:
            row.status, row.updated_at, row.updated_at_height = Status.OPEN, ev.time, ev.height
        return [self._order_message(uid, ev.height)]

    def _on_updated(self, ev: OrderUpdated) -> None:
        uid = order_uuid(ev.order_id)
        if uid in self.cache:
            self._cache_fill(uid, ev.total_filled_quantums)
        else:
            self._optimistic_filled[uid] = ev.total_filled_quantums

    def _on_removed(
        self, order_id: OrderId, reason: RemovalReason, status: RemovalStatus, t: datetime,
        height: int,
    ) -> list[WsMessage]:  # fmt: skip
        uid = order_uuid(order_id)
        self._optimistic_filled.pop(uid, None)
        cached = self._cache_pop(uid)
        row = self.rows.get(uid)
        new_status = REMOVAL_STATUS[status]
        if order_id.is_stateful:
            # Ender's stateful-order removal: the row becomes CANCELED unless already filled.
            if row is None:
                return []
            if row.status != Status.FILLED:
                row.status = Status.FILLED if status == RemovalStatus.FILLED else Status.CANCELED
                row.removal_reason = reason.name
                row.updated_at, row.updated_at_height = t, height
            return [self._order_message(uid, height, removal_reason=reason.name)]
        if cached is None:
            # `handleOrderRemoval`: the order is not in Redis, nothing to do.
            return []
        filled = row.total_filled if row is not None else 0
        if cached.order.quantums - filled <= 0:
            return []
        if new_status in (Status.BEST_EFFORT_CANCELED, Status.CANCELED):
            self.canceled[uid] = new_status
        if row is not None:
            self._short_open.discard(uid)
            row.status = new_status
            row.removal_reason = reason.name
            row.updated_at, row.updated_at_height = t, height
            return [self._order_message(uid, height, removal_reason=reason.name)]
        # Redis only (never filled): the order leaves REST now; socks still tells subscribers.
        self._subaccount_for_order(order_id).order_uuids.discard(uid)
        return [
            self._order_message(
                uid, height, removal_reason=reason.name, entry=cached, status=new_status
            )
        ]

    def _order_message(
        self,
        uid: str,
        height: int,
        *,
        removal_reason: str | None = None,
        entry: CachedOrder | None = None,
        status: str | None = None,
    ) -> WsMessage:

        row = self.rows.get(uid)
        cached = entry if entry is not None else self.cache.get(uid)
        body = views.order_ws(self, row, cached, status=status, removal_reason=removal_reason)
        sid = (row.order if row is not None else cached.order).order_id.subaccount_id  # type: ignore[union-attr]
        return self._sub_message(sid, {"orders": [body]}, height)
