"""What a proposer does to its view when it builds a block: oracle updates, delivery of the
stateful txs it holds, expiry of stateful orders, conditional triggers, the synthetic market
makers' quotes. The engine (`dydx_devnet.engine`) calls these in block order.
"""

from __future__ import annotations

from functools import partial

from dydx_devnet import errors as E
from dydx_devnet.accountplus.keeper import deliver as accountplus_deliver
from dydx_devnet.accountplus.msgs import AddAuthenticatorMsg, RemoveAuthenticatorMsg
from dydx_devnet.ante import ante_in_block
from dydx_devnet.book import RestingOrder
from dydx_devnet.checktx import PendingTx
from dydx_devnet.events import (
    OraclePriceUpdated,
    OrderPlaced,
    OrderRemoved,
    OrderTriggered,
    PlacementStatus,
    RemovalReason,
    RemovalStatus,
)
from dydx_devnet.model import ClobPairStatus, ConditionType, MarketPrice, Side, SubaccountId
from dydx_devnet.simulation import (
    MM_LEVELS,
    MM_REQUOTE_AFTER,
    OracleWalk,
    ladder,
    should_publish,
)
from dydx_devnet.validator import Validator

AccountplusMsgs = (AddAuthenticatorMsg, RemoveAuthenticatorMsg)


class BlockSteps:
    def __init__(self, seed: int, oracle: OracleWalk | None, market_maker: str | None) -> None:
        self.seed = seed
        self.oracle = oracle
        self.market_maker = market_maker
        self.oracle_overrides: dict[int, int] = {}
        self._mm_quoted: dict[int, tuple[int, int]] = {}  # clob id -> (height, oracle price)

    def update_oracle(self, v: Validator, height: int) -> None:
        for mid, current in list(v.state.prices.items()):
            override = self.oracle_overrides.pop(mid, None)
            if override is not None:
                new = override
            elif self.oracle is not None:
                candidate = self.oracle.step(height, mid)
                market = v.state.market_by_market_id(mid)
                min_change = market.market_param.min_price_change_ppm if market else 0
                if not should_publish(current.price, candidate, min_change):
                    continue
                new = candidate
            else:
                continue
            if new == current.price:
                continue
            v.state.prices[mid] = MarketPrice(mid, current.exponent, new)
            v.onchain_events.append(
                partial(OraclePriceUpdated, market_id=mid, price=new, exponent=current.exponent)
            )

    def deliver(self, v: Validator, p: PendingTx) -> E.TxError | None:
        """Run one stateful tx; returns its DeliverTx failure (it stays in the block). The ante
        handler runs first, again, against the state as the block's earlier txs left it; a tx
        it refuses changes nothing and emits no event (`ante.ante_in_block`)."""
        try:
            ante_in_block(v.state, p.tx)
        except E.TxError as e:
            return e
        ap = [(i, m) for i, m in enumerate(p.tx.msgs) if isinstance(m, AccountplusMsgs)]
        if ap:
            try:
                accountplus_deliver(v.state.authenticators, ap)
            except E.TxError as e:
                return e
        for c in p.cancels:
            oid = c.order_id
            removed = v.state.books[oid.clob_pair_id].remove(oid)
            if removed is None:
                removed = v.state.untriggered.pop(oid, None)
            if removed is not None:
                v.onchain_events.append(
                    partial(
                        OrderRemoved,
                        order_id=oid,
                        reason=RemovalReason.USER_CANCELED,
                        status=RemovalStatus.CANCELED,
                    )
                )
        for order in p.places:
            market = v.state.market(order.order_id.clob_pair_id)
            assert market is not None
            if order.order_id.is_conditional:
                v.onchain_events.append(
                    partial(
                        OrderPlaced,
                        order=order,
                        status=PlacementStatus.OPENED,
                        tx_hash=p.tx.hash,
                        untriggered=True,
                    )
                )
                v.state.untriggered[order.order_id] = RestingOrder(
                    order,
                    placed_height=v.state.height,
                    tx_hash=p.tx.hash,
                    placed_at_ms=v.state.block_time_ms,
                    triggered=False,
                )
            else:
                v.onchain_events.append(
                    partial(
                        OrderPlaced, order=order, status=PlacementStatus.OPENED, tx_hash=p.tx.hash
                    )
                )
                v.memclob.place_stateful(order, market, p.tx.hash)
        return None

    def expire_stateful(self, v: Validator) -> None:
        now_s = v.state.block_time_ms // 1000
        for book in v.state.books.values():
            expired = [
                oid
                for oid, r in book.orders.items()
                if oid.is_stateful and r.order.good_til_block_time <= now_s
            ]
            for oid in expired:
                v.memclob.remove_resting(oid, RemovalReason.EXPIRED, onchain=True)
        for oid, r in list(v.state.untriggered.items()):
            if r.order.good_til_block_time <= now_s:
                del v.state.untriggered[oid]
                v.onchain_events.append(
                    partial(
                        OrderRemoved,
                        order_id=oid,
                        reason=RemovalReason.EXPIRED,
                        status=RemovalStatus.CANCELED,
                    )
                )

    def trigger_conditionals(self, v: Validator) -> None:
        """Stop-loss buys trigger when oracle >= trigger, sells when oracle <= trigger;
        take-profit the reverse (`x/clob/types/order.go` CanTrigger)."""
        for oid, r in list(v.state.untriggered.items()):
            o = r.order
            market = v.state.market(oid.clob_pair_id)
            assert market is not None
            oracle = market.oracle_subticks(v.state.oracle_price(market.market_param.id))
            trig = o.conditional_order_trigger_subticks
            up = (o.condition_type == ConditionType.STOP_LOSS) == (o.side == Side.BUY)
            if (up and oracle >= trig) or (not up and oracle <= trig):
                del v.state.untriggered[oid]
                v.onchain_events.append(partial(OrderTriggered, order=o))
                v.memclob.place_stateful(o, market, r.tx_hash)

    def quote_market_makers(self, v: Validator, height: int) -> None:
        owner = self.market_maker
        if owner is None:
            return
        sid = SubaccountId(owner, 0)
        for market in v.state.markets():
            if market.clob_pair.status != ClobPairStatus.ACTIVE:
                continue
            price = v.state.oracle_price(market.market_param.id)
            book = v.state.books[market.clob_pair_id]
            mine = [oid for oid in book.orders if oid.subaccount_id == sid]
            last = self._mm_quoted.get(market.clob_pair_id)
            if (
                last is not None
                and last[1] == price.price
                and height - last[0] < MM_REQUOTE_AFTER
                and len(mine) == 2 * MM_LEVELS
            ):
                continue
            for oid in mine:
                v.memclob.remove_resting(oid, RemovalReason.USER_CANCELED, onchain=True)
            for order in ladder(self.seed, height, market, price, owner):
                try:
                    existing = v.memclob.validate_new_order(order, market)
                except E.TxError:
                    continue
                if existing is not None:
                    continue
                v.onchain_events.append(
                    partial(
                        OrderPlaced,
                        order=order,
                        status=PlacementStatus.BEST_EFFORT_OPENED,
                        tx_hash="",
                    )
                )
                v.memclob.place_stateful(order, market, "")
            self._mm_quoted[market.clob_pair_id] = (height, price.price)
