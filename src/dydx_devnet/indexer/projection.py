"""The indexer's data: what the real indexer keeps in Postgres and Redis, fed by the node's events.

The real indexer has two write paths (PROTOCOL.md §0.6, §6):

- **Vulcan** (off-chain updates from the full node's memclob) keeps *Redis*: every order currently
  on a book (`OrdersCache`), the orderbook price levels, and a cache of orders cancelled on a
  best-effort basis (`CanceledOrdersCache`). It only *updates* Postgres rows that already exist
  (`vulcan/src/handlers/order-remove-handler.ts`).
- **Ender** (on-chain block events) keeps *Postgres*: stateful orders, every order that got a
  fill (`dydx_order_fill_handler_per_order.sql`), fills, perpetual and asset positions
  (`dydx_subaccount_update_handler.sql`), transfers, blocks.

Comlink answers from both (`request-transformer.ts`,
`mergePostgresAndRedisOrdersToResponseObjects`):
an order only in Redis is reported as `BEST_EFFORT_OPENED`; an unfilled short-term order therefore
disappears from REST once it leaves the book (cancel, expiry), while a filled one stays.

`Projection.apply(batch)` applies one `EventBatch` and returns the websocket messages it causes
(socks channels `v4_subaccounts`, `v4_orderbook`, `v4_markets`, `v4_block_height`).
Amounts are kept as chain integers; the views (`views.py`) convert them to decimal strings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from dydx_devnet.events import (
    BlockCommitted,
    EventBatch,
    Fill,
    FillSide,
    FundingPayment,
    OraclePriceUpdated,
    OrderPlaced,
    OrderRemoved,
    OrderReplaced,
    OrderTriggered,
    OrderUpdated,
    PlacementStatus,
    RemovalReason,
    RemovalStatus,
    SubaccountUpdated,
    Transfer,
)
from dydx_devnet.indexer import ids, views
from dydx_devnet.indexer.fmt import dec, iso
from dydx_devnet.indexer.records import (
    REMOVAL_STATUS,
    CachedOrder,
    FillRow,
    MarketRow,
    OrderRow,
    PnlTick,
    PositionRow,
    Status,
    SubaccountRow,
    TransferRow,
    WsMessage,
    order_status_after_fill,
    order_type,
    order_uuid,
)
from dydx_devnet.model import Liquidity, Market, OrderId, Side, Subaccount, SubaccountId
from dydx_devnet.state import ChainState

# Roundtable sends INDEXER_EXPIRED removals for short-term orders this many blocks after their
# good-til-block, in case the node's own expiry message was lost
# (`roundtable/src/tasks/remove-expired-orders.ts`,
# `BLOCKS_TO_DELAY_EXPIRY_BEFORE_SENDING_REMOVES`).
INDEXER_EXPIRY_DELAY_BLOCKS = 20


class Projection:
    """Indexer state. Mutated only by `apply`; read by the REST and websocket layers."""

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
        self._seed()

    # ---- setup ---------------------------------------------------------------------------
    def _seed(self) -> None:
        """Start from the chain as it is: markets, oracle prices, the committed height, resting
        orders, and the subaccounts of blocks committed before the indexer subscribed."""
        st = self.state
        now = st.block_time
        for m in st.markets():
            price = st.oracle_price(m.market_param.id)
            row = MarketRow(m, price.human, now, st.height)
            self.markets[m.clob_pair_id] = row
            self.by_ticker[m.ticker] = row
            self.by_perpetual[m.perpetual.id] = row
            self.by_market_id[m.market_param.id] = row
        if st.height == 0:
            # Nothing committed yet: every deposit made so far (e.g. `--fund`) is still to be
            # published with block 1, so subaccounts come from those events, counted once.
            subaccounts = []
        else:
            self.height, self.block_time = st.height, now
            subaccounts = st.subaccounts()
        for sub in subaccounts:
            srow = self._subaccount(sub.id, st.height, now)
            self._update_subaccount(srow, sub, st.height, now, ids.event_id(st.height, 0, 0))
            srow.net_transfers = sub.usdc_quantums
        for oo in st.open_orders():
            uid = order_uuid(oo.order.order_id)
            self._cache_put(CachedOrder(uid, oo.order, oo.filled_quantums, not oo.triggered))
            if oo.order.order_id.is_stateful:
                self.rows[uid] = OrderRow(
                    uid,
                    oo.order,
                    Status.OPEN if oo.triggered else Status.UNTRIGGERED,
                    oo.filled_quantums,
                    order_type(oo.order),
                    oo.placed_height,
                    now,
                    now,
                    oo.placed_height,
                )

    # ---- lookups -------------------------------------------------------------------------
    def market_of(self, clob_pair_id: int) -> MarketRow:
        return self.markets[clob_pair_id]

    def order_ids_of(self, sub: SubaccountId) -> Iterable[str]:
        row = self.subaccounts.get(sub)
        return () if row is None else row.order_uuids

    # ---- event application ---------------------------------------------------------------
    def apply(self, batch: EventBatch) -> list[WsMessage]:
        out: list[WsMessage] = []
        self._touched_books = {}
        oracle: dict[str, dict[str, Any]] = {}
        traded: set[int] = set()
        touched_subs: set[SubaccountId] = set()
        for ev in batch.events:
            self._event_index += 1
            match ev:
                case OrderPlaced():
                    out.extend(self._on_placed(ev))
                case OrderReplaced():
                    out.extend(self._on_replaced(ev))
                case OrderTriggered():
                    out.extend(self._on_triggered(ev))
                case OrderUpdated():
                    self._on_updated(ev)
                case OrderRemoved():
                    out.extend(
                        self._on_removed(ev.order_id, ev.reason, ev.status, ev.time, ev.height)
                    )
                case Fill():
                    out.extend(self._on_fill(ev))
                    traded.add(ev.clob_pair_id)
                    touched_subs.update((ev.maker.subaccount_id, ev.taker.subaccount_id))
                case SubaccountUpdated():
                    out.extend(self._on_subaccount(ev))
                    touched_subs.add(ev.subaccount.id)
                case OraclePriceUpdated():
                    oracle.update(self._on_oracle(ev))
                case Transfer():
                    out.extend(self._on_transfer(ev))
                    touched_subs.update(s for s in (ev.sender, ev.recipient) if s is not None)
                case FundingPayment():
                    self._on_funding(ev)
                    touched_subs.add(ev.subaccount_id)
                case BlockCommitted():
                    out.extend(self._on_block(ev, touched_subs))
        out.extend(self._book_messages(self._touched_books))
        if oracle:
            out.append(WsMessage("v4_markets", None, {"oraclePrices": oracle}))
        if traded:
            out.append(WsMessage("v4_markets", None, {"trading": self._trading(traded)}))
        return out

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

    def _sub_message(self, sid: SubaccountId, contents: dict[str, Any], height: int) -> WsMessage:
        contents["blockHeight"] = str(self.height if self.height is not None else height)
        return WsMessage("v4_subaccounts", f"{sid.owner}/{sid.number}", contents)

    # -- fills and positions --
    def _on_fill(self, ev: Fill) -> list[WsMessage]:

        row_m = self.markets[ev.clob_pair_id]
        eid = ids.event_id(ev.height, 0, self._event_index)
        out = []
        for fs in (ev.maker, ev.taker):
            uid = order_uuid(fs.order.order_id)
            sub = self._subaccount(fs.subaccount_id, ev.height, ev.time)
            sub.order_uuids.add(uid)
            row = self.rows.get(uid)
            status = order_status_after_fill(
                fs.total_filled_quantums, fs.order, self.canceled.get(uid)
            )
            if row is None:
                row = OrderRow(
                    uid, fs.order, status, fs.total_filled_quantums, order_type(fs.order),
                    ev.height, ev.time, ev.time, ev.height,
                )  # fmt: skip
                self.rows[uid] = row
            else:
                row.total_filled, row.status = fs.total_filled_quantums, status
                row.updated_at, row.updated_at_height = ev.time, ev.height
            if not fs.order.order_id.is_stateful:
                if row.status == Status.OPEN:
                    self._short_open.add(uid)
                else:
                    self._short_open.discard(uid)
            self._cache_fill(uid, fs.total_filled_quantums)
            fill = FillRow(
                ids.fill_uuid(eid, fs.liquidity.name),
                fs.subaccount_id,
                fs.side,
                fs.liquidity,
                ev.clob_pair_id,
                ev.quantums,
                ev.subticks,
                ev.quote_quantums,
                fs.fee_quote_quantums,
                ev.time,
                ev.height,
                uid,
                fs.order.client_metadata,
                eid,
                ev.tx_hash,
            )
            sub.fills.append(fill)
            position = self._apply_fill_to_position(sub, row_m.market, fs, ev, eid)
            sid = fs.subaccount_id
            if self.wanted("v4_subaccounts", f"{sid.owner}/{sid.number}"):
                out.append(
                    self._sub_message(
                        sid,
                        {
                            "fills": [views.fill_ws(self, fill)],
                            "orders": [views.order_ws(self, row, self.cache.get(uid))],
                            "perpetualPositions": [views.position_ws(self, sub, position)],
                        },
                        ev.height,
                    )
                )
            if fs.liquidity == Liquidity.TAKER:
                row_m.trades.append((ev.time, ev.quantums, ev.quote_quantums))
        return out

    def _apply_fill_to_position(
        self, sub: SubaccountRow, market: Market, fs: FillSide, ev: Fill, eid: bytes
    ) -> PositionRow:
        """Ender: the subaccount update opens/closes the position
        (`dydx_subaccount_update_handler.sql`), then the fill updates its aggregates
        (`dydx_update_perpetual_position_aggregate_fields.sql`) and realized PnL
        (`dydx_apply_fill_realized_effects.sql`)."""
        before = fs.position_quantums_before
        delta = ev.quantums if fs.side == Side.BUY else -ev.quantums
        self._set_position_size(sub, market.perpetual.id, before, ev.height, ev.time, eid)
        pos_before = sub.open_positions.get(market.perpetual.id)
        entry_before = pos_before.entry_price if pos_before is not None else Decimal(0)
        self._set_position_size(sub, market.perpetual.id, before + delta, ev.height, ev.time, eid)
        # The latest position for the perpetual (open, or just closed by this fill).
        pos = next(p for p in reversed(sub.positions) if p.perpetual_id == market.perpetual.id)
        price = market.price(ev.subticks)
        fee = Decimal(fs.fee_quote_quantums).scaleb(-6)
        increasing = (pos.side == "LONG") == (fs.side == Side.BUY)
        if increasing:
            pos.entry_price = _weighted(pos.entry_price, pos.sum_open, price, ev.quantums)
            pos.sum_open += ev.quantums
        else:
            pos.exit_price = _weighted(
                pos.exit_price or Decimal(0), pos.sum_close, price, ev.quantums
            )
            pos.sum_close += ev.quantums
        pnl = Decimal(0)
        if before != 0 and (before > 0) != (fs.side == Side.BUY):
            closing = market.size(min(ev.quantums, abs(before)))
            pnl = (
                (price - entry_before) * closing if before > 0 else (entry_before - price) * closing
            )
        target = pos_before if pos_before is not None else pos
        target.realized_pnl += pnl - fee
        return pos

    def _set_position_size(
        self, sub: SubaccountRow, perpetual_id: int, size: int, height: int, t: datetime,
        eid: bytes,
    ) -> PositionRow | None:  # fmt: skip
        """`dydx_subaccount_update_handler.sql`: close on zero or side change, else resize;
        open a new position when none is open or the side changed. Returns the changed row."""
        pos = sub.open_positions.get(perpetual_id)
        side = "LONG" if size > 0 else "SHORT"
        if pos is not None and pos.size == size:
            return None
        changed: PositionRow | None = None
        if pos is not None and (size == 0 or pos.side != side):
            pos.status, pos.size, pos.closed_at, pos.closed_at_height = "CLOSED", 0, t, height
            del sub.open_positions[perpetual_id]
            changed = pos
        elif pos is not None:
            pos.max_size = pos.max_size if pos.max_size >= size else size
            pos.size = size
            return pos
        if size != 0:
            new = PositionRow(
                ids.perpetual_position_uuid(sub.uuid, eid), perpetual_id, side, "OPEN", size, size,
                Decimal(0), None, 0, 0, Decimal(0), Decimal(0), t, height,
            )  # fmt: skip
            sub.open_positions[perpetual_id] = new
            sub.positions.append(new)
            changed = new
        return changed

    # -- subaccounts, transfers, funding --
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

    def pending_or_live(self, sid: SubaccountId) -> SubaccountRow | None:
        return self.subaccounts.get(sid) or self._pending_subaccounts.get(sid)

    def _update_subaccount(
        self, row: SubaccountRow, snap: Subaccount, height: int, t: datetime, eid: bytes
    ) -> list[PositionRow]:
        row.usdc_quantums = snap.usdc_quantums
        row.updated_at_height, row.updated_at = height, t
        changed = []
        seen = set()
        for p in snap.perpetual_positions:
            seen.add(p.perpetual_id)
            c = self._set_position_size(row, p.perpetual_id, p.quantums, height, t, eid)
            if c is not None:
                changed.append(c)
        for pid in list(row.open_positions):
            if pid not in seen:
                c = self._set_position_size(row, pid, 0, height, t, eid)
                if c is not None:
                    changed.append(c)
        return changed

    def _on_subaccount(self, ev: SubaccountUpdated) -> list[WsMessage]:

        row = self._subaccount(ev.subaccount.id, ev.height, ev.time)
        eid = ids.event_id(ev.height, 0, self._event_index)
        changed = self._update_subaccount(row, ev.subaccount, ev.height, ev.time, eid)
        contents: dict[str, Any] = {"assetPositions": views.asset_positions_ws(row)}
        if changed:
            contents["perpetualPositions"] = [views.position_ws(self, row, p) for p in changed]
        return [self._sub_message(row.id, contents, ev.height)]

    def _on_transfer(self, ev: Transfer) -> list[WsMessage]:

        eid = ids.event_id(ev.height, 0, self._event_index)
        tr = TransferRow(
            ids._uuid(f"transfer-{eid.hex()}"), ev.kind, ev.sender, ev.recipient, ev.quantums,
            ev.time, ev.height, ev.tx_hash,
        )  # fmt: skip
        out = []
        for sid, sign in ((ev.sender, -1), (ev.recipient, +1)):
            if sid is None:
                continue
            row = self._subaccount(sid, ev.height, ev.time)
            row.net_transfers += sign * ev.quantums
            row.transfers.append(tr)
            out.append(self._sub_message(sid, {"transfers": views.transfer_ws(tr, sid)}, ev.height))
        return out

    def _on_funding(self, ev: FundingPayment) -> None:
        row = self.subaccounts.get(ev.subaccount_id)
        if row is None:
            return
        pos = row.open_positions.get(ev.perpetual_id)
        if pos is not None:
            pos.net_funding += Decimal(ev.payment_quote_quantums).scaleb(-6)

    def _on_oracle(self, ev: OraclePriceUpdated) -> dict[str, dict[str, Any]]:

        row = self.by_market_id.get(ev.market_id)
        if row is None:
            return {}
        row.oracle_price = Decimal(ev.price).scaleb(ev.exponent)
        row.oracle_effective_at, row.oracle_effective_height = ev.time, ev.height
        return {
            row.market.ticker: {
                "oraclePrice": dec(row.oracle_price),
                "effectiveAt": iso(ev.time),
                "effectiveAtHeight": str(ev.height),
                "marketId": ev.market_id,
            }
        }

    def _trading(self, clob_pair_ids: set[int]) -> dict[str, dict[str, Any]]:
        return {
            self.markets[c].market.ticker: views.market_stats(self, self.markets[c])
            for c in clob_pair_ids
        }

    # -- blocks --
    def _on_block(self, ev: BlockCommitted, touched: set[SubaccountId]) -> list[WsMessage]:
        self.height, self.block_time = ev.height, ev.time
        out = [
            WsMessage(
                "v4_block_height", None, {"blockHeight": str(ev.height), "time": iso(ev.time)}
            )
        ]
        for sid in touched:
            row = self.subaccounts.get(sid)
            if row is None:
                continue
            equity, _ = views.equity_and_free_collateral(self, row)
            net = Decimal(row.net_transfers).scaleb(-6)
            row.pnl_ticks.append(PnlTick(equity, equity - net, net, ev.time, ev.height, ev.time))
        cutoff = ev.time - timedelta(hours=24)
        for m in self.markets.values():
            while m.trades and m.trades[0][0] < cutoff:
                m.trades.popleft()
        # Roundtable's `cancel-stale-orders`: an OPEN short-term row past its good-til-block is
        # CANCELED. (A BEST_EFFORT_CANCELED row is left as it is: the real indexer never
        # finalizes it.)
        for uid in [u for u in self._short_open if self.rows[u].order.good_til_block < ev.height]:
            self._short_open.discard(uid)
            stale = self.rows[uid]
            stale.status, stale.updated_at, stale.updated_at_height = (
                Status.CANCELED, ev.time, ev.height,
            )  # fmt: skip
        # Roundtable's expiry sweep for short-term orders whose node-side removal never came.
        limit = ev.height - INDEXER_EXPIRY_DELAY_BLOCKS
        expired = [
            e.order.order_id
            for e in self.cache.values()
            if not e.order.order_id.is_stateful and e.order.good_til_block < limit
        ]
        for oid in expired:
            out.extend(
                self._on_removed(
                    oid, RemovalReason.INDEXER_EXPIRED, RemovalStatus.CANCELED, ev.time, ev.height
                )
            )
        return out


def _weighted(avg: Decimal, amount: int, price: Decimal, size: int) -> Decimal:
    """`dydx_get_weighted_average`: (avg*amount + price*size) / (amount + size), exact."""
    total = amount + size
    if total == 0:
        return Decimal(0)
    return (avg * amount + price * size) / total
