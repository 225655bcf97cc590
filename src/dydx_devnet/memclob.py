"""The in-memory order book logic: placement, replacement, cancels, price-time matching, fills.

Behaviour follows `protocol/x/clob/memclob/memclob.go` (`PlaceOrder`, `CancelOrder`,
`validateNewOrder`, `validateReplacement`, `mustPerformTakerOrderMatching`) and
`protocol/x/clob/keeper/process_single_match.go` (fees, subaccount updates):

- the maker's price is the fill price; quote = floor(quantums * subticks * 10**qce);
- taker and maker fees are ``ceil(quote * fee_ppm / 1e6)`` (rounded toward +inf; the maker fee is
  negative, a rebate);
- a maker from the taker's own subaccount is removed (self-trade) and matching continues;
- a short-term maker placed through x/accountplus authenticators that no longer exist (revoked)
  is removed (REMOVAL_REASON_PERMISSIONED_KEY_EXPIRED, the indexer's EXPIRED) and matching
  continues (`clobKeeper.MaybeValidateAuthenticators`; stateful makers are not checked);
- a maker failing its collateral check is removed; a taker failing it stops matching (the
  CheckTx still succeeds);
- a post-only taker that would match fails with clob/2003;
- a reduce-only order's fill is cut to the size of the position it reduces.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import partial

from dydx_devnet import errors as E
from dydx_devnet.accountplus.keeper import initialized
from dydx_devnet.book import OrderBook, RestingOrder
from dydx_devnet.events import (
    EventSink,
    OrderPlaced,
    OrderRemoved,
    OrderReplaced,
    PlacementStatus,
    RemovalReason,
    RemovalStatus,
)
from dydx_devnet.fills import FillsMixin
from dydx_devnet.model import Market, Order, OrderId, Side, TimeInForce
from dydx_devnet.state import ChainState
from dydx_devnet.tx import order_hash
from dydx_devnet.validate import go_order, requires_immediate_execution


class TakerStatus(Enum):
    SUCCESS = "Success"
    UNDERCOLLATERALIZED = "Undercollateralized"
    POST_ONLY_WOULD_CROSS = "PostOnlyWouldCrossMakerOrder"
    REDUCE_ONLY_RESIZED = "ReduceOnlyResized"


@dataclass(slots=True)
class TakerResult:
    status: TakerStatus
    filled: int  # quantums filled by this placement
    remaining: int  # quantums left (not counting earlier fills)


class Memclob(FillsMixin):
    def __init__(self, state: ChainState, sink: EventSink) -> None:
        self.state = state
        self.sink = sink
        # Short-term cancels: OrderId -> cancel GoodTilBlock.
        self.cancels: dict[OrderId, int] = {}
        # Fill state: OrderId -> [filled quantums, prunable block height].
        self.fills: dict[OrderId, list[int]] = {}
        # Orders matched since the last block (`operationsToPropose.MatchedOrderIdToOrder`).
        self.matched: dict[OrderId, Order] = {}
        self.next_fill_id = 1
        fee_tier = state.fee_tiers[0]
        self.taker_fee_ppm = fee_tier.taker_fee_ppm
        self.maker_fee_ppm = fee_tier.maker_fee_ppm

    def load_from(self, other: Memclob) -> None:
        """Take ``other``'s cancels and fill amounts (this memclob's state was reset from the
        committed one: the proposer's memclob is the truth)."""
        self.cancels = dict(other.cancels)
        self.fills = {oid: list(f) for oid, f in other.fills.items()}
        self.matched = dict(other.matched)
        self.next_fill_id = other.next_fill_id

    # ---- helpers -------------------------------------------------------------------------
    def filled(self, order_id: OrderId) -> int:
        f = self.fills.get(order_id)
        return f[0] if f else 0

    def remaining(self, order: Order) -> int:
        return order.quantums - self.filled(order.order_id)

    def book(self, clob_pair_id: int) -> OrderBook:
        return self.state.books[clob_pair_id]

    def position(self, order_id: OrderId, perpetual_id: int) -> int:
        rec = self.state.subaccount_records.get(order_id.subaccount_id)
        return rec.position(perpetual_id) if rec else 0

    def _now_ms(self) -> int:
        return self.state.block_time_ms

    # ---- validation (memclob part of CheckTx) ----------------------------------------------
    def validate_new_order(self, order: Order, market: Market) -> RestingOrder | None:
        """`validateNewOrder`; returns the resting order this one would replace."""
        oid = order.order_id
        if oid.is_short_term:
            cancel_gtb = self.cancels.get(oid)
            if cancel_gtb is not None and cancel_gtb >= order.good_til_block:
                raise E.ErrOrderIsCanceled.wrap(
                    f"Order: {go_order(order)}, Cancellation GoodTilBlock: {cancel_gtb}"
                )
        existing = self.book(oid.clob_pair_id).get(oid)
        if existing is not None:
            validate_replacement(existing.order, order)
        matched = self.matched.get(oid)
        if matched is not None:
            validate_replacement(matched, order)
        remaining = self.remaining(order)
        if remaining < market.clob_pair.step_base_quantums:
            raise E.ErrOrderFullyFilled.wrap(
                "Order remaining amount is less than `MinOrderBaseQuantums`. "
                f"Remaining amount: {max(remaining, 0)}. Order: {go_order(order)}"
            )
        if order.reduce_only:
            pos = self.position(oid, market.perpetual.id)
            sign = 1 if order.side == Side.BUY else -1
            if pos == 0 or (pos > 0) == (sign > 0):
                raise E.ErrReduceOnlyWouldIncreasePositionSize.bare()
        if requires_immediate_execution(order) and remaining < order.quantums:
            if existing is not None:
                raise E.ErrInvalidReplacement.wrap(
                    "Cannot replace partially filled order with IOC order. "
                    f"Size: {order.quantums}, Fill Amount: {order.quantums - remaining}."
                )
            raise E.ErrImmediateExecutionOrderAlreadyFilled.wrap(f"Order: {go_order(order)}")
        return existing

    # ---- placement ---------------------------------------------------------------------------
    def place_short_term(
        self, order: Order, market: Market, tx_hash: str, authenticators: tuple[int, ...] = ()
    ) -> TakerResult:
        """Memclob `PlaceOrder` for a validated short-term order (CheckTx)."""
        existing = self.validate_new_order(order, market)
        if order.time_in_force == TimeInForce.POST_ONLY and self._would_cross(order):
            raise E.ErrPostOnlyWouldCrossMakerOrder.bare()
        oid = order.order_id
        if existing is not None:
            self.book(oid.clob_pair_id).remove(oid)
            old = existing.order
            self.sink.offchain(partial(OrderReplaced, old_order=old, order=order, tx_hash=tx_hash))
        else:
            self.sink.offchain(
                partial(
                    OrderPlaced,
                    order=order,
                    status=PlacementStatus.BEST_EFFORT_OPENED,
                    tx_hash=tx_hash,
                )
            )
        return self._execute(
            order, market, tx_hash, onchain_removals=False, authenticators=authenticators
        )

    def place_stateful(self, order: Order, market: Market, tx_hash: str) -> TakerResult:
        """A committed long-term order, or a triggered conditional order, enters the book."""
        return self._execute(order, market, tx_hash, onchain_removals=True)

    def _execute(
        self,
        order: Order,
        market: Market,
        tx_hash: str,
        *,
        onchain_removals: bool,
        authenticators: tuple[int, ...] = (),
    ) -> TakerResult:
        oid = order.order_id
        if order.time_in_force == TimeInForce.POST_ONLY and self._would_cross(order):
            # Stateful post-only orders are accepted by CheckTx and removed here.
            self._removed(oid, RemovalReason.POST_ONLY_WOULD_CROSS_MAKER_ORDER, onchain=True)
            return TakerResult(TakerStatus.POST_ONLY_WOULD_CROSS, 0, self.remaining(order))
        result = self._match(order, market, tx_hash)
        if result.status != TakerStatus.SUCCESS:
            reason = {
                TakerStatus.UNDERCOLLATERALIZED: RemovalReason.UNDERCOLLATERALIZED,
                TakerStatus.REDUCE_ONLY_RESIZED: RemovalReason.REDUCE_ONLY_RESIZE,
            }.get(result.status, RemovalReason.INTERNAL_ERROR)
            self._removed(oid, reason, onchain=onchain_removals)
            return result
        if result.remaining == 0:
            return result
        if order.time_in_force == TimeInForce.IOC:
            self._removed(
                oid, RemovalReason.IMMEDIATE_OR_CANCEL_WOULD_REST_ON_BOOK, onchain=onchain_removals
            )
            return result
        self.book(oid.clob_pair_id).add(
            RestingOrder(
                order,
                placed_height=self.state.height,
                tx_hash=tx_hash,
                placed_at_ms=self._now_ms(),
                filled=self.filled(oid),
                authenticators=authenticators,
            )
        )
        return result

    def _removed(self, oid: OrderId, reason: RemovalReason, *, onchain: bool) -> None:
        status = (
            RemovalStatus.CANCELED
            if onchain or oid.is_stateful
            else RemovalStatus.BEST_EFFORT_CANCELED
        )
        make = partial(OrderRemoved, order_id=oid, reason=reason, status=status)
        if onchain or oid.is_stateful:
            self.sink.onchain(make)
        else:
            self.sink.offchain(make)

    def remove_resting(
        self, oid: OrderId, reason: RemovalReason, *, onchain: bool
    ) -> RestingOrder | None:
        r = self.book(oid.clob_pair_id).remove(oid)
        if r is not None:
            self._removed(oid, reason, onchain=onchain)
        return r

    # ---- cancels -----------------------------------------------------------------------------
    def cancel_short_term(self, oid: OrderId, good_til_block: int) -> None:
        """Memclob `CancelOrder`: an unknown order's cancel succeeds and is stored."""
        existing_gtb = self.cancels.get(oid)
        if existing_gtb is not None and existing_gtb >= good_til_block:
            raise E.ErrMemClobCancelAlreadyExists.bare()
        resting = self.book(oid.clob_pair_id).get(oid)
        if resting is not None and good_til_block >= resting.order.good_til_block:
            self.remove_resting(oid, RemovalReason.USER_CANCELED, onchain=False)
        else:
            # The chain reports the cancel to the indexer whether or not an order was removed.
            self.sink.offchain(
                partial(
                    OrderRemoved,
                    order_id=oid,
                    reason=RemovalReason.USER_CANCELED,
                    status=RemovalStatus.BEST_EFFORT_CANCELED,
                )
            )
        self.cancels[oid] = good_til_block

    # ---- matching ------------------------------------------------------------------------------
    def _crosses(self, taker: Order, maker_subticks: int) -> bool:
        if taker.side == Side.BUY:
            return taker.subticks >= maker_subticks
        return taker.subticks <= maker_subticks

    def _would_cross(self, taker: Order) -> bool:
        side = self.book(taker.order_id.clob_pair_id).opposite_of(taker)
        for maker in side.orders_best_first():
            if not self._crosses(taker, maker.order.subticks):
                return False
            if maker.order.order_id.subaccount_id != taker.order_id.subaccount_id:
                return True
        return False

    def _authenticators_exist(self, maker: RestingOrder) -> bool:
        """`x/accountplus/keeper` MaybeValidateAuthenticators on the maker's placing tx (one
        signer: the order's owner): smart accounts are still active (else
        ErrSmartAccountNotActive) and every selected authenticator still initializes."""
        if not self.state.authenticators.smart_account_active:
            return False
        owner = maker.order.order_id.subaccount_id.owner
        try:
            for auth_id in maker.authenticators:
                initialized(self.state.authenticators, owner, auth_id)
        except E.TxError:
            return False
        return True

    def _reduce_only_size(self, pos: int, amount: int, is_buy: bool) -> int:
        # `resizeReduceOnlyMatchIfNecessary`: only a fill toward zero, at most |position|.
        if pos == 0 or (pos > 0) == is_buy:
            return 0
        return min(amount, abs(pos))

    def _match(self, taker: Order, market: Market, tx_hash: str) -> TakerResult:
        book = self.book(taker.order_id.clob_pair_id)
        side = book.opposite_of(taker)
        taker_id = taker.order_id
        remaining = self.remaining(taker)
        start = remaining
        status = TakerStatus.SUCCESS
        to_remove: list[tuple[OrderId, RemovalReason]] = []
        perpetual_id = market.perpetual.id
        for maker in side.orders_best_first():
            mo = maker.order
            if not self._crosses(taker, mo.subticks):
                break
            if mo.order_id == taker_id:
                continue
            if mo.order_id.subaccount_id == taker_id.subaccount_id:
                to_remove.append((mo.order_id, RemovalReason.SELF_TRADE_ERROR))
                continue
            if maker.authenticators and not self._authenticators_exist(maker):
                # REMOVAL_REASON_PERMISSIONED_KEY_EXPIRED, reported to the indexer as EXPIRED
                # (`protocol/indexer/shared/order_removal_reason.go`)
                to_remove.append((mo.order_id, RemovalReason.EXPIRED))
                continue
            amount = min(remaining, maker.remaining)
            if mo.reduce_only:
                amount = self._reduce_only_size(
                    self.position(mo.order_id, perpetual_id), amount, mo.side == Side.BUY
                )
                if amount == 0:
                    to_remove.append((mo.order_id, RemovalReason.REDUCE_ONLY_RESIZE))
                    continue
            if taker.reduce_only:
                amount = self._reduce_only_size(
                    self.position(taker_id, perpetual_id), amount, taker.side == Side.BUY
                )
                if amount == 0:
                    status = TakerStatus.REDUCE_ONLY_RESIZED
                    break
            outcome = self._fill(maker, taker, market, amount, tx_hash)
            if outcome == "maker":
                to_remove.append((mo.order_id, RemovalReason.UNDERCOLLATERALIZED))
                continue
            if outcome == "taker":
                status = TakerStatus.UNDERCOLLATERALIZED
                break
            remaining -= amount
            if maker.remaining == 0:
                book.remove(mo.order_id)
                self.sink.onchain(
                    partial(
                        OrderRemoved,
                        order_id=mo.order_id,
                        reason=RemovalReason.FULLY_FILLED,
                        status=RemovalStatus.FILLED,
                    )
                )
            if taker.reduce_only and remaining > 0 and self.position(taker_id, perpetual_id) == 0:
                status = TakerStatus.REDUCE_ONLY_RESIZED
                break
            if remaining == 0:
                break
        for oid, reason in to_remove:
            self.remove_resting(oid, reason, onchain=False)
        if remaining == 0 and start > 0:
            self.sink.onchain(
                partial(
                    OrderRemoved,
                    order_id=taker_id,
                    reason=RemovalReason.FULLY_FILLED,
                    status=RemovalStatus.FILLED,
                )
            )
        return TakerResult(status, start - remaining, remaining)

    # ---- block boundaries ----------------------------------------------------------------------
    def end_block(self, height: int) -> None:
        """Expire short-term orders with GTB <= height, prune cancels and fill state."""
        for book in self.state.books.values():
            expired = [
                oid
                for oid, r in book.orders.items()
                if oid.is_short_term and r.order.good_til_block <= height
            ]
            for oid in expired:
                self.remove_resting(oid, RemovalReason.EXPIRED, onchain=True)
        self.cancels = {k: v for k, v in self.cancels.items() if v > height}
        self.fills = {k: v for k, v in self.fills.items() if v[1] > height}
        self.matched.clear()


def validate_replacement(existing: Order, new: Order) -> None:
    """`validateReplacement` (memclob.go) with `MustCmpReplacementOrder` (order.go)."""
    if existing.order_id.is_short_term:
        x, y = existing.good_til_block, new.good_til_block
    else:
        x, y = existing.good_til_block_time, new.good_til_block_time
    cmp = (x > y) - (x < y)
    if cmp == 0:
        hx, hy = order_hash(existing), order_hash(new)
        cmp = (hx > hy) - (hx < hy)
    if cmp >= 0:
        raise E.ErrInvalidReplacement.wrap(
            "New order cannot reduce the GoodTilBlock or GoodTilBlockTime of existing order"
        )
    if existing.side != new.side:
        raise E.ErrInvalidReplacement.wrap("New order cannot change the Side of the existing order")
    if existing.time_in_force != new.time_in_force:
        raise E.ErrInvalidReplacement.wrap(
            "New order cannot change the TimeInForce of the existing order"
        )
    if existing.reduce_only != new.reduce_only:
        raise E.ErrInvalidReplacement.wrap(
            "New order cannot change the ReduceOnly field of the existing order"
        )
