"""CheckTx's clob steps, as one validator runs them: stateful validation
(`protocol/x/clob/keeper/orders.go` PerformStatefulOrderValidation), the equity tier and collateral
checks of stateful orders, and the ClobDecorator (`x/clob/ante/clob.go`): short-term orders and
cancels go to this validator's memclob, stateful txs wait in its check state for the next block.
"""

from __future__ import annotations

from dataclasses import dataclass

from dydx_devnet import errors as E
from dydx_devnet.ante import Ante
from dydx_devnet.genesis import SHORT_BLOCK_WINDOW, STATEFUL_ORDER_TIME_WINDOW_S
from dydx_devnet.memclob import Memclob
from dydx_devnet.model import (
    ClobPairStatus,
    Market,
    Order,
    OrderFlags,
    OrderId,
    Side,
    SubaccountId,
    TimeInForce,
)
from dydx_devnet.risk import Risk, is_valid_transition, risk_of
from dydx_devnet.state import SubaccountRecord
from dydx_devnet.tx import BatchCancelMsg, CancelOrderMsg, DecodedTx, Msg, PlaceOrderMsg
from dydx_devnet.validate import go_order, go_order_id, go_subaccount_id


@dataclass(frozen=True, slots=True)
class AcceptedOrder:
    """One MsgPlaceOrder accepted by a validator from a client (admin API: proves no order was
    placed twice); gossip and replays are not counted."""

    order_id: OrderId
    good_til_block: int
    good_til_block_time: int
    tx_hash: str
    height: int  # latest committed height when accepted
    side: Side
    quantums: int
    subticks: int
    validator: int = 0


@dataclass(slots=True)
class PendingTx:
    tx: DecodedTx
    places: list[Order]
    cancels: list[CancelOrderMsg]


class CheckTx(Ante):
    index: int
    memclob: Memclob
    pending_txs: list[PendingTx]
    pending_places: dict[OrderId, Order]
    pending_cancels: dict[OrderId, CancelOrderMsg]
    accepted: list[AcceptedOrder]  # the chain's log, shared by every validator
    recording: bool  # a client's broadcast (not gossip, not a replay)

    # ---- stateful validation ------------------------------------------------------------------
    def _market(self, clob_pair_id: int) -> Market:
        m = self.state.market(clob_pair_id)
        if m is None:
            raise E.ErrInvalidClob.wrap(f"Clob {clob_pair_id} is not a valid clob")
        return m

    def _validate_good_til_block(self, good_til_block: int) -> None:
        """`validateGoodTilBlock` with nextBlockHeight = latest committed height + 1."""
        nxt = self.state.height + 1
        if good_til_block < nxt:
            raise E.ErrHeightExceedsGoodTilBlock.wrap(
                f"GoodTilBlock {good_til_block} is less than the current blockHeight {nxt}"
            )
        if good_til_block > nxt + SHORT_BLOCK_WINDOW:
            raise E.ErrGoodTilBlockExceedsShortBlockWindow.wrap(
                f"The GoodTilBlock {good_til_block} exceeds the current blockHeight {nxt} plus "
                f"ShortBlockWindow {SHORT_BLOCK_WINDOW}"
            )

    def _validate_clob_pair_status(self, order: Order, market: Market) -> None:
        """`validateOrderAgainstClobPairStatus` (keeper/clob_pair.go)."""
        status = market.clob_pair.status
        name = f"STATUS_{status.name}"
        if status == ClobPairStatus.INITIALIZING:
            if order.order_id.is_stateful:
                raise E.ErrOrderConflictsWithClobPairStatus.wrap(
                    f"Order {go_order(order)} must not be stateful for clob pair with status {name}"
                )
            if order.time_in_force != TimeInForce.POST_ONLY:
                raise E.ErrOrderConflictsWithClobPairStatus.wrap(
                    f"Order {go_order(order)} must be post-only for clob pair with status {name}"
                )
            oracle = round(market.oracle_subticks(self.state.oracle_price(market.market_param.id)))
            if order.side == Side.BUY and order.subticks > oracle:
                raise E.ErrOrderConflictsWithClobPairStatus.wrap(
                    f"Order subticks {order.subticks} must be less than or equal to oracle price "
                    f"subticks {oracle} for clob pair with status {name}"
                )
            if order.side == Side.SELL and order.subticks < oracle:
                raise E.ErrOrderConflictsWithClobPairStatus.wrap(
                    f"Order subticks {order.subticks} must be greater than or equal to oracle "
                    f"price subticks {oracle} for clob pair with status {name}"
                )
        elif status == ClobPairStatus.FINAL_SETTLEMENT:
            raise E.ErrOrderConflictsWithClobPairStatus.wrap(
                f"Order {go_order(order)} disallowed, trading is disabled for clob pair with "
                f"status {name}"
            )

    def _stateful_order_validation(
        self, order: Order, pending_places: dict[OrderId, Order]
    ) -> Market:
        """`PerformStatefulOrderValidation` (keeper/orders.go)."""
        market = self._market(order.order_id.clob_pair_id)
        cp = market.clob_pair
        if order.subticks % cp.subticks_per_tick != 0:
            raise E.ErrInvalidPlaceOrder.wrap(
                f"Order subticks {order.subticks} must be a multiple of the ClobPair's "
                f"SubticksPerTick {cp.subticks_per_tick}"
            )
        if order.quantums % cp.step_base_quantums != 0:
            raise E.ErrInvalidPlaceOrder.wrap(
                f"Order Quantums {order.quantums} must be a multiple of the ClobPair's "
                f"StepBaseQuantums {cp.step_base_quantums}"
            )
        self._validate_clob_pair_status(order, market)
        oid = order.order_id
        if oid.is_short_term:
            self._validate_good_til_block(order.good_til_block)
            return market
        prev = self.state.block_time_ms // 1000
        gtbt = order.good_til_block_time
        if gtbt <= prev:
            raise E.ErrTimeExceedsGoodTilBlockTime.wrap(
                f"GoodTilBlockTime {gtbt} is less than the previous blockTime {prev}"
            )
        end = prev + STATEFUL_ORDER_TIME_WINDOW_S
        if gtbt > end:
            raise E.ErrGoodTilBlockTimeExceedsStatefulOrderTimeWindow.wrap(
                f"GoodTilBlockTime {gtbt} exceeds the previous blockTime plus "
                f"StatefulOrderTimeWindow {end}"
            )
        cancel = self.pending_cancels.get(oid)
        if cancel is not None:
            raise E.ErrStatefulOrderPreviouslyCancelled.wrap(
                "An uncommitted stateful order cancellation with this OrderId already exists. "
                f"Existing order cancellation: ({go_order_id(cancel.order_id)}). "
                f"New order: ({go_order(order)})."
            )
        existing = pending_places.get(oid)
        if existing is not None:
            raise E.ErrStatefulOrderAlreadyExists.wrap(
                "An uncommitted stateful order with this OrderId already exists and stateful "
                "order replacement is not supported. Existing order GoodTilBlockTime "
                f"({existing.good_til_block_time}), New order GoodTilBlockTime ({gtbt}). "
                f"Existing order: ({go_order(existing)}). New order: ({go_order(order)})."
            )
        committed = self._committed_stateful(oid)
        if committed is not None:
            raise E.ErrStatefulOrderAlreadyExists.wrap(
                "A stateful order with this OrderId already exists and stateful order "
                "replacement is not supported. Existing order GoodTilBlockTime "
                f"({committed.good_til_block_time}), New order GoodTilBlockTime ({gtbt}). "
                f"Existing order: ({go_order(committed)}). New order: ({go_order(order)})."
            )
        if oid.is_conditional and order.conditional_order_trigger_subticks % cp.subticks_per_tick:
            raise E.ErrInvalidPlaceOrder.wrap(
                f"Conditional order trigger subticks {order.conditional_order_trigger_subticks} "
                f"must be a multiple of the ClobPair's SubticksPerTick {cp.step_base_quantums}"
            )
        return market

    def _committed_stateful(self, oid: OrderId) -> Order | None:
        book = self.state.books.get(oid.clob_pair_id)
        r = book.get(oid) if book is not None else None
        if r is None:
            r = self.state.untriggered.get(oid)
        return r.order if r is not None else None

    def _stateful_order_count(self, sid: SubaccountId) -> int:
        n = sum(
            1
            for b in self.state.books.values()
            for oid in b.orders
            if oid.is_stateful and oid.subaccount_id == sid
        )
        n += sum(1 for oid in self.state.untriggered if oid.subaccount_id == sid)
        n += sum(1 for oid in self.pending_places if oid.subaccount_id == sid)
        return n

    def _risk(
        self, rec: SubaccountRecord | None, override: tuple[int, int, int] | None = None
    ) -> Risk:
        usdc = rec.usdc if rec else 0
        positions = {pid: p[0] for pid, p in rec.positions.items()} if rec else {}
        if override is not None:
            pid, dq, du = override
            positions[pid] = positions.get(pid, 0) + dq
            usdc += du
        return risk_of(
            usdc, positions.items(), self.state.markets_by_perpetual(), self.state.prices
        )

    def _equity_tier_check(self, order: Order) -> None:
        """`ValidateSubaccountEquityTierLimitForStatefulOrder` (keeper/equity_tier_limit.go)."""
        tiers = self.state.genesis.stateful_order_equity_tiers
        if not tiers:
            return
        sid = order.order_id.subaccount_id
        nc = self._risk(self.state.subaccount_records.get(sid)).net_collateral
        limit = 0
        for t in tiers:
            if nc < t.usd_tnc_required:
                break
            limit = t.limit
        if limit == 0:
            raise E.ErrOrderWouldExceedMaxOpenOrdersEquityTierLimit.wrap(
                f"Opening order would exceed equity tier limit of 0, for subaccount "
                f"{go_subaccount_id(sid)} with net collateral {nc}"
            )
        count = self._stateful_order_count(sid)
        if count >= limit:
            raise E.ErrOrderWouldExceedMaxOpenOrdersEquityTierLimit.wrap(
                f"Opening order would exceed equity tier limit of {limit}. Order count: {count}, "
                f"total net collateral: {nc}, order id: {go_order_id(order.order_id)}"
            )

    def _collateral_check(self, order: Order, market: Market) -> None:
        """`AddOrderToOrderbookSubaccountUpdatesCheck`: the subaccount as if the order filled
        entirely at its price must pass the collateral check (not for conditional orders)."""
        rec = self.state.subaccount_records.get(order.order_id.subaccount_id)
        sign = 1 if order.side == Side.BUY else -1
        quote = market.quote_quantums(order.quantums, order.subticks)
        before = self._risk(rec)
        after = self._risk(rec, (market.perpetual.id, sign * order.quantums, -sign * quote))
        if not is_valid_transition(before, after):
            result = (
                "NewlyUndercollateralized"
                if before.is_initial_collateralized
                else ("StillUndercollateralized")
            )
            raise E.ErrStatefulOrderCollateralizationCheckFailed.wrap(
                f"PlaceStatefulOrder: order ({go_order(order)}), result ({result})"
            )

    # ---- clob processing (the ClobDecorator) --------------------------------------------------
    def _process_short_term(self, tx: DecodedTx, m: Msg) -> None:
        if isinstance(m, PlaceOrderMsg):
            order = m.order
            if tx.timeout_height and tx.timeout_height < order.good_til_block:
                # HOTFIX in x/clob/ante/clob.go
                raise E.ErrInvalidRequest.wrap(
                    "timeout height (if non-zero) may not be less than `goodTilBlock` for a "
                    "short-term place order"
                )
            market = self._stateful_order_validation(order, self.pending_places)
            self.memclob.place_short_term(order, market, tx.hash, tx.selected_authenticators)
            self._record_accepted(order, tx.hash)
        elif isinstance(m, CancelOrderMsg):
            self._validate_good_til_block(m.good_til_block)
            if m.order_id.clob_pair_id not in self.state.books:
                raise _panic()
            self.memclob.cancel_short_term(m.order_id, m.good_til_block)
        elif isinstance(m, BatchCancelMsg):  # only short-term messages come here
            self._validate_good_til_block(m.good_til_block)
            for batch in m.short_term_cancels:
                if batch.clob_pair_id not in self.state.books:
                    raise E.ErrInvalidClobPairParameter.wrap(
                        f"Invalid clob pair id {batch.clob_pair_id}"
                    )
            succeeded: list[int] = []
            failed: list[int] = []
            for batch in m.short_term_cancels:
                for cid in batch.client_ids:
                    oid = OrderId(m.subaccount_id, cid, OrderFlags.SHORT_TERM, batch.clob_pair_id)
                    try:
                        self.memclob.cancel_short_term(oid, m.good_til_block)
                        succeeded.append(cid)
                    except E.TxError:
                        failed.append(cid)
            if not succeeded:
                raise E.ErrBatchCancelFailed.wrap(
                    f"No successful cancellations. Failures: [{' '.join(map(str, failed))}]"
                )

    def _process_stateful(self, tx: DecodedTx) -> None:
        places: list[Order] = []
        cancels: list[CancelOrderMsg] = []
        local_places = dict(self.pending_places)
        local_cancels: dict[OrderId, CancelOrderMsg] = {}
        for m in tx.msgs:
            if isinstance(m, PlaceOrderMsg):
                order = m.order
                if order.order_id in local_cancels:
                    raise E.ErrStatefulOrderPreviouslyCancelled.wrap(
                        "An uncommitted stateful order cancellation with this OrderId already "
                        f"exists. New order: ({go_order(order)})."
                    )
                market = self._stateful_order_validation(order, local_places)
                self._equity_tier_check(order)
                if not order.order_id.is_conditional:
                    self._collateral_check(order, market)
                places.append(order)
                local_places[order.order_id] = order
            elif isinstance(m, CancelOrderMsg):
                self._validate_stateful_cancel(m, local_places, local_cancels)
                cancels.append(m)
                local_cancels[m.order_id] = m
        for order in places:
            self.pending_places[order.order_id] = order
            self._record_accepted(order, tx.hash)
        for c in cancels:
            self.pending_cancels[c.order_id] = c
        self.pending_txs.append(PendingTx(tx, places, cancels))

    def _validate_stateful_cancel(
        self,
        m: CancelOrderMsg,
        pending_places: dict[OrderId, Order],
        local_cancels: dict[OrderId, CancelOrderMsg],
    ) -> None:
        """`PerformOrderCancellationStatefulValidation` for stateful orders."""
        prev = self.state.block_time_ms // 1000
        gtbt = m.good_til_block_time
        if gtbt <= prev:
            raise E.ErrTimeExceedsGoodTilBlockTime.bare()
        end = prev + STATEFUL_ORDER_TIME_WINDOW_S
        if gtbt > end:
            raise E.ErrGoodTilBlockTimeExceedsStatefulOrderTimeWindow.wrap(
                f"GoodTilBlockTime {gtbt} exceeds the previous blockTime plus "
                f"StatefulOrderTimeWindow {end}. MsgCancelOrder: {go_order_id(m.order_id)}"
            )
        existing_cancel = self.pending_cancels.get(m.order_id) or local_cancels.get(m.order_id)
        if existing_cancel is not None:
            raise E.ErrStatefulOrderCancellationAlreadyExists.wrap(
                "An uncommitted stateful order cancellation with this OrderId already exists and "
                "stateful order cancellation replacement is not supported. Existing order "
                f"cancellation GoodTilBlockTime ({existing_cancel.good_til_block_time}), New order "
                f"cancellation GoodTilBlockTime ({gtbt})."
            )
        order = self._committed_stateful(m.order_id) or pending_places.get(m.order_id)
        if order is None:
            raise E.ErrStatefulOrderDoesNotExist.wrap(
                f"Order Id to cancel does not exist. OrderId : {go_order_id(m.order_id)}"
            )
        if gtbt < order.good_til_block_time:
            raise E.ErrInvalidStatefulOrderCancellation.wrap(
                "cancellation goodTilBlockTime less than stateful order goodTilBlockTime. "
                f"cancellation {go_order_id(m.order_id)}, order {go_order(order)}"
            )

    def _record_accepted(self, order: Order, h: str) -> None:
        if self.recording:
            self.accepted.append(
                AcceptedOrder(
                    order.order_id,
                    order.good_til_block,
                    order.good_til_block_time,
                    h,
                    self.state.height,
                    order.side,
                    order.quantums,
                    order.subticks,
                    self.index,
                )
            )


def _panic() -> E.TxError:
    # baseapp recovers a panic in CheckTx as sdk/111222 with a redacted message.
    return E.Registered("sdk", 111222, "panic").wrap(
        "panic message redacted to hide potentially sensitive system info"
    )
