"""Pre-trade risk: limits, the trading state (kill switch) and the check itself. Pure.

Semantics (docs/security.md has the full table):

- Every limit is optional (``None``: no limit). Global limits are defaults; a market's limits
  override them field by field. Every limit is evaluated in the order's market and subaccount.
- ``max_order_size`` (base units) and ``max_order_notional`` (USD: size x the larger of the
  order's price and the oracle price, so a far-off limit price cannot understate it) bound one
  order.
- ``max_position_notional`` bounds |position| x oracle after the order and every open order on
  the same side filled in full (worst case). An order that moves the position toward zero (not
  through it) always passes, so an over-limit position can be reduced.
- ``max_open_orders`` bounds the non-final orders in the market (this one included).
- ``price_band_bps`` bounds how far an order's limit price may sit from the price the order
  executes around (below); a conditional order's trigger the oracle has already crossed must sit
  within the band of the oracle too.
- ``max_slippage_bps`` bounds the slippage a market-like order may accept, and its worst price's
  distance from the price it executes around, on the losing side.

The price an order executes around: the oracle price, except for a conditional order whose trigger
the oracle has not crossed yet: that one cannot execute before the oracle reaches its trigger
price, so its limit (or worst) price is held to the trigger price. On the side the oracle has not
reached, a trigger far from the oracle is harmless (a stop-loss sell 50% below the market executes
only once the oracle is there, within the band or the slippage of that price), so it is not
banded; one already crossed triggers at once, so the order is held to the rules of an order placed
now around the oracle.

Reduce-only orders can only shrink a position, so the exposure limits (size, notional, position,
open orders) do not apply to them; the price band and slippage limits do.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from dydx_router.domain.errors import (
    RiskDataUnavailable,
    RiskLimitBreached,
    TradingHalted,
    TradingReduceOnly,
)
from dydx_router.domain.market import Side
from dydx_router.domain.order import OrderType

BPS = Decimal(10_000)
GLOBAL = "*"  # the scope name of the global limits
_LIMIT_PRICED = {OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT}
_MARKET_LIKE = {OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET}
_TAKE_PROFIT = {OrderType.TAKE_PROFIT_LIMIT, OrderType.TAKE_PROFIT_MARKET}


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"  # every order accepted (subject to the limits)
    REDUCE_ONLY = "REDUCE_ONLY"  # only reduce-only orders accepted
    HALTED = "HALTED"  # no new orders at all; cancels still work


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_order_size: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_open_orders: int | None = None
    price_band_bps: int | None = None
    max_slippage_bps: int | None = None

    def over(self, base: RiskLimits) -> RiskLimits:
        """These limits where set, ``base`` elsewhere."""
        return replace(
            base,
            **{
                f.name: getattr(self, f.name)
                for f in fields(self)
                if getattr(self, f.name) is not None
            },
        )

    @property
    def needs_exposure(self) -> bool:
        return self.max_position_notional is not None or self.max_open_orders is not None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


LIMIT_NAMES = tuple(f.name for f in fields(RiskLimits))


@dataclass(frozen=True, slots=True)
class RiskPolicy:
    """The global limits and the per-market overrides, as stored, over the service's safe
    defaults (settings; a stored limit, global or per market, replaces its default).

    ``configured``: the global limits have been set explicitly (a row exists, even one whose
    limits are all null); on testnet and mainnet the service trades REDUCE_ONLY until then.
    """

    global_limits: RiskLimits = RiskLimits()
    markets: tuple[tuple[str, RiskLimits], ...] = ()
    defaults: RiskLimits = RiskLimits()
    configured: bool = False

    def limits_for(self, market: str) -> RiskLimits:
        for name, limits in self.markets:
            if name == market:
                return limits.over(self.global_limits).over(self.defaults)
        return self.global_limits.over(self.defaults)

    def defaulted(self, market: str) -> frozenset[str]:
        """The limits of ``market`` that come from the defaults (nothing stored overrides)."""
        stored = self.global_limits
        for name, limits in self.markets:
            if name == market:
                stored = limits.over(self.global_limits)
        return frozenset(
            n for n in LIMIT_NAMES if getattr(stored, n) is None and getattr(self.defaults, n)
        )


@dataclass(frozen=True, slots=True)
class Exposure:
    """What the subaccount holds and has working in one market (signed sizes, base units)."""

    position: Decimal = Decimal(0)
    open_buy_size: Decimal = Decimal(0)
    open_sell_size: Decimal = Decimal(0)
    open_orders: int = 0


@dataclass(frozen=True, slots=True)
class ProposedOrder:
    market: str
    side: Side
    type: OrderType
    size: Decimal
    price: Decimal  # the limit price, or the worst price of a market-like order
    reduce_only: bool
    slippage_bps: int | None
    trigger_price: Decimal | None = None  # conditional orders (STOP_*, TAKE_PROFIT_*)


def triggers_at(order: ProposedOrder, price: Decimal) -> bool:
    """Whether the conditional ``order`` triggers with the oracle at ``price``.

    The chain's rule (dydxprotocol/v4-chain ``protocol/x/clob/types/order.go`` CanTrigger): a
    take-profit buy and a stop-loss sell trigger when the oracle price is lower than or equal to
    the trigger price; a take-profit sell and a stop-loss buy when it is higher or equal.
    """
    assert order.trigger_price is not None
    if (order.type in _TAKE_PROFIT) == (order.side is Side.BUY):
        return price <= order.trigger_price
    return price >= order.trigger_price


def _bps(a: Decimal, b: Decimal) -> Decimal:
    """How far ``a`` sits from ``b``, in bps of ``b``."""
    return abs(a - b) / b * BPS


def check_trading_state(state: TradingState, *, reduce_only: bool) -> None:
    if state is TradingState.HALTED:
        raise TradingHalted("trading is halted: new orders are refused", trading_state=state.value)
    if state is TradingState.REDUCE_ONLY and not reduce_only:
        raise TradingReduceOnly(
            "trading is in REDUCE_ONLY: only reduce_only orders are accepted",
            trading_state=state.value,
        )


def _breach(
    limit: str, value: object, scope: str | dict[str, str], message: str, **found: object
) -> None:
    if isinstance(scope, dict):
        scope = scope.get(limit, scope[""])
    raise RiskLimitBreached(
        f"{message} (limit {limit} = {value} for {scope})",
        code=f"risk_{limit}",
        limit=limit,
        limit_value=str(value),
        scope=scope,
        **{k: str(v) for k, v in found.items()},
    )


def _check_prices(
    order: ProposedOrder, limits: RiskLimits, scope: str | dict[str, str], oracle: Decimal | None
) -> None:
    """The price band and the slippage, around the price the order executes around."""
    band, slippage = limits.price_band_bps, limits.max_slippage_bps
    market_like, limit_priced = order.type in _MARKET_LIKE, order.type in _LIMIT_PRICED
    if slippage is not None and market_like and (order.slippage_bps or 0) > slippage:
        _breach(
            "max_slippage_bps",
            slippage,
            scope,
            f"max_slippage_bps {order.slippage_bps} is more than allowed",
            requested=order.slippage_bps,
        )
    trigger = order.trigger_price
    banded = band is not None and (trigger is not None or limit_priced)
    if not banded and (slippage is None or trigger is None):
        return
    if oracle is None:
        raise RiskDataUnavailable(
            f"no oracle price for {order.market}: the price band cannot be checked",
            market=order.market,
        )
    reference, where = oracle, f"the oracle price {oracle}"
    crossed = trigger is not None and triggers_at(order, oracle)
    if trigger is not None and not crossed:
        # It executes only once the oracle has reached the trigger price (or the block's trade
        # prices, clamped near the oracle, have: v4-chain
        # protocol/x/clob/keeper/untriggered_conditional_orders.go MaybeTriggerConditionalOrders).
        reference, where = trigger, f"its trigger price {trigger}"
    if crossed and band is not None:
        assert trigger is not None
        distance = _bps(trigger, oracle)
        if distance > band:
            _breach(
                "price_band_bps",
                band,
                scope,
                f"trigger price {trigger} is already crossed by the oracle price {oracle} (the "
                f"order would trigger at once) and is {distance:.0f} bps from it",
                oracle_price=oracle,
                trigger_price=trigger,
                distance_bps=f"{distance:.2f}",
            )
    if band is not None and limit_priced:
        distance = _bps(order.price, reference)
        if distance > band:
            _breach(
                "price_band_bps",
                band,
                scope,
                f"price {order.price} is {distance:.0f} bps from {where}",
                oracle_price=oracle,
                reference_price=reference,
                distance_bps=f"{distance:.2f}",
            )
    if crossed and slippage is not None and market_like:
        # Triggered at once, it is a market order now: its worst price (the trigger's ± the
        # slippage) is held to the slippage a market order may have around the oracle. Not
        # crossed, it is the trigger's ± at most max_slippage_bps by construction (planning.py).
        worse = order.price - oracle if order.side is Side.BUY else oracle - order.price
        distance = worse / oracle * BPS
        if distance > slippage:
            _breach(
                "max_slippage_bps",
                slippage,
                scope,
                f"trigger price {trigger} is already crossed by the oracle price {oracle} (the "
                f"order would trigger at once): its worst price {order.price} is {distance:.0f} "
                f"bps {'above' if order.side is Side.BUY else 'below'} the oracle price",
                oracle_price=oracle,
                trigger_price=trigger,
                worst_price=order.price,
                distance_bps=f"{distance:.2f}",
            )


def check_order(
    order: ProposedOrder,
    limits: RiskLimits,
    *,
    scope: str | dict[str, str],
    oracle: Decimal | None,
    exposure: Exposure | None,
) -> None:
    """Raise ``RiskLimitBreached`` for the first limit the order breaches.

    ``scope`` names where the limits came from (the market, ``*`` or ``default``) for the error
    message: one name, or one per limit name with ``""`` for the others;
    ``exposure`` may be None only when ``limits.needs_exposure`` is false or the order is
    reduce-only.
    """
    _check_prices(order, limits, scope, oracle)
    if order.reduce_only:
        return
    if limits.max_order_size is not None and order.size > limits.max_order_size:
        _breach(
            "max_order_size",
            limits.max_order_size,
            scope,
            f"size {order.size} is larger than allowed",
            requested=order.size,
        )
    if limits.max_order_notional is not None:
        reference = order.price if oracle is None else max(order.price, oracle)
        notional = order.size * reference
        if notional > limits.max_order_notional:
            _breach(
                "max_order_notional",
                limits.max_order_notional,
                scope,
                f"order notional {notional:f} USD is more than allowed",
                requested=notional,
            )
    if not limits.needs_exposure:
        return
    if exposure is None:
        raise RiskDataUnavailable(
            f"the {order.market} position and open orders are not known: cannot check limits",
            market=order.market,
        )
    if limits.max_open_orders is not None and exposure.open_orders + 1 > limits.max_open_orders:
        _breach(
            "max_open_orders",
            limits.max_open_orders,
            scope,
            f"{exposure.open_orders} orders are already open in {order.market}",
            open_orders=exposure.open_orders,
        )
    if limits.max_position_notional is not None:
        if oracle is None:
            raise RiskDataUnavailable(
                f"no oracle price for {order.market}: the position limit cannot be checked",
                market=order.market,
            )
        if order.side is Side.BUY:
            before = exposure.position + exposure.open_buy_size
            after = before + order.size
        else:
            before = exposure.position - exposure.open_sell_size
            after = before - order.size
        notional = abs(after) * oracle
        # Toward zero always passes; through zero opens a new position on the other side.
        grows = abs(after) > abs(before) or after * before < 0
        if notional > limits.max_position_notional and grows:
            _breach(
                "max_position_notional",
                limits.max_position_notional,
                scope,
                f"the {order.market} position could reach {notional:f} USD "
                f"(size {after}, open orders included)",
                projected_notional=notional,
                projected_size=after,
            )


@dataclass(frozen=True, slots=True)
class TradingStateRecord:
    state: TradingState
    reason: str
    updated_at: datetime
    updated_by: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """A non-final order's remaining size, for the exposure of its subaccount and market."""

    subaccount_number: int
    market: str
    side: Side
    remaining: Decimal
