"""The indexer's tables (Postgres rows, Redis caches) and the lookups over them.

`dydx_devnet.indexer.projection.Projection` writes them as events arrive (through
`dydx_devnet.indexer.order_events.OrderEvents`); the REST and websocket layers read them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from dydx_devnet.indexer import ids
from dydx_devnet.indexer.records import CachedOrder, MarketRow, OrderRow, SubaccountRow, WsMessage
from dydx_devnet.model import SubaccountId
from dydx_devnet.state import ChainState


class IndexerTables:
    """Indexer state. Mutated only by the projection's `apply`; read by the REST and websocket
    layers."""

    def __init__(self, state: ChainState) -> None:
        self.state = state
        self.height: int | None = None
        self.block_time: datetime | None = None
        self.markets: dict[int, MarketRow] = {}
        self.by_ticker: dict[str, MarketRow] = {}
        self.by_perpetual: dict[int, MarketRow] = {}
        self.by_market_id: dict[int, MarketRow] = {}
        self.subaccounts: dict[SubaccountId, SubaccountRow] = {}
        self.rows: dict[str, OrderRow] = {}  # Postgres `orders`
        self.cache: dict[str, CachedOrder] = {}  # Redis `OrdersCache`
        self.canceled: dict[str, str] = {}  # Redis `CanceledOrdersCache`: uuid -> status
        self._optimistic_filled: dict[str, int] = {}  # OrderUpdated seen before OrderPlaced
        # Orders of subaccounts with no on-chain update yet (Ender creates a subaccount on its
        # first update; until then its orders are still findable by id).
        self._pending_subaccounts: dict[SubaccountId, SubaccountRow] = {}
        # Book levels before the batch being applied: clob pair -> side -> subticks -> quantums.
        self._touched_books: dict[int, dict[str, dict[int, int]]] = {}
        # Short-term rows whose status is OPEN: Roundtable cancels them once past their
        # good-til-block (`roundtable/src/tasks/cancel-stale-orders.ts`).
        self._short_open: set[str] = set()
        self._event_index = 0
        # Whether anyone follows a channel id (the socks server's subscriptions): a fill's
        # subaccount messages are rendered only for a subscribed subaccount. At hundreds of
        # fills a second, rendering both sides' messages (the market maker's, which nobody
        # follows, included) was a tenth of the devnet's CPU.
        self.wanted: Callable[[str, str], bool] = lambda channel, channel_id: True

    # ---- lookups -------------------------------------------------------------------------
    def market_of(self, clob_pair_id: int) -> MarketRow:
        return self.markets[clob_pair_id]

    def order_ids_of(self, sub: SubaccountId) -> Iterable[str]:
        row = self.subaccounts.get(sub)
        return () if row is None else row.order_uuids

    def pending_or_live(self, sid: SubaccountId) -> SubaccountRow | None:
        return self.subaccounts.get(sid) or self._pending_subaccounts.get(sid)

    def _subaccount(
        self, sid: SubaccountId, height: int, t: datetime, *, create_only: bool = False
    ) -> SubaccountRow:
        row = self.subaccounts.get(sid)
        if row is None:
            row = SubaccountRow(sid, ids.subaccount_uuid(sid.owner, sid.number), height, t)
            if create_only:
                row = self._pending_subaccounts.setdefault(sid, row)
                return row
            pending = self._pending_subaccounts.pop(sid, None)
            if pending is not None:
                row.order_uuids = pending.order_uuids
            self.subaccounts[sid] = row
        return row

    def _sub_message(self, sid: SubaccountId, contents: dict[str, Any], height: int) -> WsMessage:
        contents["blockHeight"] = str(self.height if self.height is not None else height)
        return WsMessage("v4_subaccounts", f"{sid.owner}/{sid.number}", contents)
