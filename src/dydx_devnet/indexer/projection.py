"""The indexer's data: what the real indexer keeps in Postgres and Redis, fed by the node's events.

The real indexer has two write paths (v4-chain `indexer/services/vulcan`, `indexer/services/ender`):

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
Amounts are kept as chain integers; the views (`dydx_devnet.indexer.views`) convert them to
decimal strings. The tables are `IndexerTables` (`tables.py`); the order events and the book,
`OrderEvents` (`order_events.py`); positions, `positions.py`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from dydx_devnet.events import (
    BlockCommitted,
    EventBatch,
    Fill,
    FundingPayment,
    OraclePriceUpdated,
    OrderPlaced,
    OrderRemoved,
    OrderReplaced,
    OrderTriggered,
    OrderUpdated,
    RemovalReason,
    RemovalStatus,
    SubaccountUpdated,
    Transfer,
)
from dydx_devnet.indexer import ids, views
from dydx_devnet.indexer.fmt import dec, iso
from dydx_devnet.indexer.order_events import OrderEvents
from dydx_devnet.indexer.positions import apply_fill_to_position, update_subaccount
from dydx_devnet.indexer.records import (
    CachedOrder,
    FillRow,
    MarketRow,
    OrderRow,
    PnlTick,
    Status,
    TransferRow,
    WsMessage,
    order_status_after_fill,
    order_type,
    order_uuid,
)
from dydx_devnet.model import Liquidity, SubaccountId
from dydx_devnet.state import ChainState

# Roundtable sends INDEXER_EXPIRED removals for short-term orders this many blocks after their
# good-til-block, in case the node's own expiry message was lost
# (`roundtable/src/tasks/remove-expired-orders.ts`,
# `BLOCKS_TO_DELAY_EXPIRY_BEFORE_SENDING_REMOVES`).
INDEXER_EXPIRY_DELAY_BLOCKS = 20


class Projection(OrderEvents):
    """Applies the node's event batches to the indexer's tables (`IndexerTables`)."""

    def __init__(self, state: ChainState) -> None:
        super().__init__(state)
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
            update_subaccount(srow, sub, st.height, now, ids.event_id(st.height, 0, 0))
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
            position = apply_fill_to_position(sub, row_m.market, fs, ev, eid)
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

    # -- subaccounts, transfers, funding --
    def _on_subaccount(self, ev: SubaccountUpdated) -> list[WsMessage]:

        row = self._subaccount(ev.subaccount.id, ev.height, ev.time)
        eid = ids.event_id(ev.height, 0, self._event_index)
        changed = update_subaccount(row, ev.subaccount, ev.height, ev.time, eid)
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
