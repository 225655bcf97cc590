"""From a caller's order request to the exact order the chain will see. Pure.

The choice between short-term and stateful orders is automatic (documented in docs/orders.md):

- MARKET, and any IOC order, is short-term (good-til-block = height + offset). A dYdX market order
  is a short-term IOC limit order at a worst acceptable price (v4-client-js ``composite-client.ts``
  placeOrder); the worst price is the reference price ± ``max_slippage_bps``, rounded in the
  caller's favour, and recorded on the order.
- LIMIT with GTT or POST_ONLY rests on the book: a long-term order (good-til-block-time =
  now + ``good_til_seconds``), unless the caller asks for a short lifetime in blocks
  (``good_til_blocks``).
- STOP_* and TAKE_PROFIT_* are conditional orders (stateful, good-til-block-time). *_MARKET ones are
  IOC at a worst price derived from the trigger price ± slippage.
- Reduce-only needs IOC: the chain refuses anything else (clob/9003 ErrReduceOnlyDisabled,
  ``protocol/x/clob/types/message_place_order.go``), so it is refused here first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import IntEnum

from dydx_router.domain.errors import InvalidOrder
from dydx_router.domain.market import MarketSpec, Rounding, Side
from dydx_router.domain.order import Order, OrderFlags, OrderType, TimeInForce
from dydx_router.domain.windows import SHORT_BLOCK_WINDOW, STATEFUL_ORDER_TIME_WINDOW

BPS = Decimal(10_000)


class ConditionType(IntEnum):
    """Order.condition_type (proto/dydxprotocol/clob/order.proto)."""

    UNSPECIFIED = 0
    STOP_LOSS = 1  # buy triggers when oracle >= trigger, sell when <=
    TAKE_PROFIT = 2  # the reverse


class ChainTimeInForce(IntEnum):
    """Order.time_in_force; 0 (UNSPECIFIED) rests on the book (the indexer calls it GTT).
    FILL_OR_KILL (3) is deprecated and refused by the chain (clob/48), so it is not offered."""

    UNSPECIFIED = 0
    IOC = 1
    POST_ONLY = 2


_CONDITIONAL = {
    OrderType.STOP_LIMIT: ConditionType.STOP_LOSS,
    OrderType.STOP_MARKET: ConditionType.STOP_LOSS,
    OrderType.TAKE_PROFIT_LIMIT: ConditionType.TAKE_PROFIT,
    OrderType.TAKE_PROFIT_MARKET: ConditionType.TAKE_PROFIT,
}
_CHAIN_TIF = {
    TimeInForce.GTT: ChainTimeInForce.UNSPECIFIED,
    TimeInForce.IOC: ChainTimeInForce.IOC,
    TimeInForce.POST_ONLY: ChainTimeInForce.POST_ONLY,
}
_MARKET_LIKE = {OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the caller asked for, in human units (already schema-validated)."""

    market: str
    side: Side
    type: OrderType
    size: Decimal
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    good_til_seconds: int | None = None
    good_til_blocks: int | None = None
    reduce_only: bool = False
    post_only: bool = False
    max_slippage_bps: int | None = None


@dataclass(frozen=True, slots=True)
class OrderPlan:
    """The order as the chain will see it, plus the human values we record."""

    time_in_force: TimeInForce
    chain_time_in_force: ChainTimeInForce
    order_flags: int
    quantums: int
    subticks: int
    price: Decimal  # the limit price, or the worst price of a market-like order
    condition_type: ConditionType
    trigger_subticks: int
    good_til_block: int | None
    good_til_block_time: datetime | None
    slippage_bps: int | None
    height: int  # the height the plan was made at

    @property
    def is_short_term(self) -> bool:
        return self.order_flags == OrderFlags.SHORT_TERM


@dataclass(frozen=True, slots=True)
class PlanningContext:
    """What the planner needs from the world, passed in so that planning stays pure."""

    spec: MarketSpec
    height: int  # latest committed block height
    now: datetime
    good_til_block_offset: int
    default_good_til_seconds: int
    default_slippage_bps: int
    # The price market orders are bounded around (the oracle price); None if unknown.
    reference_price: Decimal | None = None


def _reject(code: str, message: str, **details: object) -> InvalidOrder:
    return InvalidOrder(message, code=code, **details)


def worst_price(spec: MarketSpec, side: Side, reference: Decimal, slippage_bps: int) -> int:
    """Subticks of the worst acceptable price: reference ± slippage, rounded in the caller's favour
    (a buy rounds down, a sell up), never below one tick."""
    factor = (BPS + slippage_bps) / BPS if side is Side.BUY else (BPS - slippage_bps) / BPS
    raw = reference * factor
    tick = spec.tick_size
    if raw < tick:
        raw = tick
    return spec.to_subticks(raw, Rounding.FAVOURABLE, side)


def plan_order(req: OrderRequest, ctx: PlanningContext) -> OrderPlan:
    """Decide flags, time in force, expiry and chain units for ``req``; raise InvalidOrder."""
    spec = ctx.spec
    conditional = req.type in _CONDITIONAL
    market_like = req.type in _MARKET_LIKE

    tif = req.time_in_force
    if req.post_only:
        if tif not in (None, TimeInForce.POST_ONLY):
            raise _reject(
                "conflicting_time_in_force",
                f"post_only cannot be combined with time_in_force {tif}",
            )
        tif = TimeInForce.POST_ONLY
    if market_like:
        if tif not in (None, TimeInForce.IOC):
            raise _reject(
                "conflicting_time_in_force",
                f"{req.type} orders are immediate-or-cancel; time_in_force {tif} is not allowed",
            )
        tif = TimeInForce.IOC
    tif = tif or TimeInForce.GTT

    # Prices.
    if market_like:
        if req.price is not None:
            raise _reject(
                "price_not_allowed",
                f"{req.type} orders take no price; bound them with max_slippage_bps",
            )
    elif req.price is None:
        raise _reject("price_required", f"{req.type} orders need a price")
    if conditional and req.trigger_price is None:
        raise _reject("trigger_price_required", f"{req.type} orders need a trigger_price")
    if not conditional and req.trigger_price is not None:
        raise _reject("trigger_price_not_allowed", f"{req.type} orders take no trigger_price")
    if req.max_slippage_bps is not None and not market_like:
        raise _reject(
            "slippage_not_allowed",
            "max_slippage_bps applies to market orders only; a limit order's price is its bound",
        )

    if req.reduce_only and tif is not TimeInForce.IOC:
        raise _reject(
            "reduce_only_requires_ioc",
            "reduce-only orders must be immediate-or-cancel (the chain refuses others: clob/9003)",
        )

    # Lifetime: short-term (blocks) or stateful (time).
    if req.good_til_blocks is not None and req.good_til_seconds is not None:
        raise _reject("conflicting_expiry", "give good_til_blocks or good_til_seconds, not both")
    if conditional:
        flags = OrderFlags.CONDITIONAL
    elif tif is TimeInForce.IOC or req.good_til_blocks is not None:
        flags = OrderFlags.SHORT_TERM
    else:
        flags = OrderFlags.LONG_TERM
    good_til_block: int | None = None
    good_til_block_time: datetime | None = None
    if flags == OrderFlags.SHORT_TERM:
        if req.good_til_seconds is not None:
            raise _reject(
                "conflicting_expiry",
                "short-term (IOC or market) orders expire by block: use good_til_blocks",
            )
        blocks = (
            req.good_til_blocks if req.good_til_blocks is not None else (ctx.good_til_block_offset)
        )
        if not 1 <= blocks <= SHORT_BLOCK_WINDOW:
            raise _reject(
                "invalid_good_til_blocks",
                f"good_til_blocks must be between 1 and {SHORT_BLOCK_WINDOW} "
                "(the chain's short block window)",
                maximum=SHORT_BLOCK_WINDOW,
            )
        good_til_block = ctx.height + blocks
    else:
        if req.good_til_blocks is not None:
            raise _reject(
                "conflicting_expiry",
                f"{req.type} orders are stateful and expire by time: use good_til_seconds",
            )
        seconds = req.good_til_seconds or ctx.default_good_til_seconds
        lifetime = timedelta(seconds=seconds)
        if not timedelta(0) < lifetime <= STATEFUL_ORDER_TIME_WINDOW:
            raise _reject(
                "invalid_good_til_seconds",
                "good_til_seconds must be positive and at most 95 days",
                maximum=int(STATEFUL_ORDER_TIME_WINDOW.total_seconds()),
            )
        # Whole seconds: Order.good_til_block_time is a fixed32 of unix seconds.
        good_til_block_time = (ctx.now + lifetime).astimezone(UTC).replace(microsecond=0)

    quantums = spec.to_quantums(req.size)
    trigger_subticks = 0
    if conditional:
        assert req.trigger_price is not None
        trigger_subticks = spec.to_subticks(req.trigger_price, field="trigger_price")
    slippage: int | None = None
    if market_like:
        slippage = (
            req.max_slippage_bps if req.max_slippage_bps is not None else (ctx.default_slippage_bps)
        )
        reference = req.trigger_price if conditional else ctx.reference_price
        if reference is None:
            raise _reject(
                "reference_price_unavailable",
                f"no oracle price is known for {req.market} to bound a market order",
            )
        subticks = worst_price(spec, req.side, reference, slippage)
    else:
        assert req.price is not None
        subticks = spec.to_subticks(req.price)

    chain_tif = _CHAIN_TIF[tif]
    return OrderPlan(
        time_in_force=tif,
        chain_time_in_force=chain_tif,
        order_flags=flags,
        quantums=quantums,
        subticks=subticks,
        price=spec.price_of(subticks),
        condition_type=_CONDITIONAL.get(req.type, ConditionType.UNSPECIFIED),
        trigger_subticks=trigger_subticks,
        good_til_block=good_til_block,
        good_til_block_time=good_til_block_time,
        slippage_bps=slippage,
        height=ctx.height,
    )


def plan_of(order: Order, height: int) -> OrderPlan:
    """The plan a stored order was placed with: its chain fields as recorded, so that the same
    OrderId can be placed again with the very same order (a stateful order whose tx can no
    longer be included, ``service/sync.py``)."""
    return OrderPlan(
        time_in_force=order.time_in_force,
        chain_time_in_force=_CHAIN_TIF[order.time_in_force],
        order_flags=order.order_flags,
        quantums=order.quantums,
        subticks=order.subticks,
        price=order.price if order.price is not None else Decimal(0),
        condition_type=_CONDITIONAL.get(order.type, ConditionType.UNSPECIFIED),
        trigger_subticks=order.trigger_subticks or 0,
        good_til_block=order.good_til_block,
        good_til_block_time=order.good_til_block_time,
        slippage_bps=order.slippage_bps,
        height=height,
    )
