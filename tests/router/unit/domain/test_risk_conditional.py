"""The price band and the slippage limit on conditional orders (STOP_*, TAKE_PROFIT_*), pure.

A conditional order executes around its trigger price when the oracle has not reached it yet,
and around the oracle at once when it has (domain/risk.py). Limits as shipped: band 1,000 bps,
slippage 500 bps; the oracle is 100.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from dydx_router.domain.errors import RiskDataUnavailable, RiskLimitBreached
from dydx_router.domain.market import Side
from dydx_router.domain.order import OrderType
from dydx_router.domain.risk import ProposedOrder, RiskLimits, check_order, triggers_at

D = Decimal
ORACLE = D("100")
SHIPPED = RiskLimits(price_band_bps=1000, max_slippage_bps=500)
BUY, SELL = Side.BUY, Side.SELL
TP_MARKET, SL_MARKET = OrderType.TAKE_PROFIT_MARKET, OrderType.STOP_MARKET
TP_LIMIT, SL_LIMIT = OrderType.TAKE_PROFIT_LIMIT, OrderType.STOP_LIMIT


def conditional(
    type_: OrderType, side: Side, trigger: str, price: str | None = None, slippage: int = 100
) -> ProposedOrder:
    """``price`` None: a *_MARKET order, its worst price the trigger's ± ``slippage`` (as
    domain/planning.py derives it)."""
    t = D(trigger)
    if price is None:
        factor = (10_000 + slippage) if side is BUY else (10_000 - slippage)
        worst = t * factor / 10_000
    else:
        worst = D(price)
    return ProposedOrder(
        market="BTC-USD",
        side=side,
        type=type_,
        size=D("0.001"),
        price=worst,
        reduce_only=False,
        slippage_bps=slippage if price is None else None,
        trigger_price=t,
    )


def refused(o: ProposedOrder, limits: RiskLimits = SHIPPED) -> RiskLimitBreached:
    with pytest.raises(RiskLimitBreached) as info:
        check_order(o, limits, scope="default", oracle=ORACLE, exposure=None)
    return info.value


def passes(o: ProposedOrder, limits: RiskLimits = SHIPPED) -> None:
    check_order(o, limits, scope="default", oracle=ORACLE, exposure=None)


@pytest.mark.parametrize(
    ("type_", "side", "trigger", "crossed"),
    [
        # Take-profit buy and stop-loss sell: when the oracle is at or below the trigger.
        (TP_MARKET, BUY, "100", True),
        (TP_MARKET, BUY, "101", True),
        (TP_MARKET, BUY, "99", False),
        (SL_LIMIT, SELL, "101", True),
        (SL_LIMIT, SELL, "99", False),
        # Take-profit sell and stop-loss buy: when the oracle is at or above the trigger.
        (TP_LIMIT, SELL, "100", True),
        (TP_LIMIT, SELL, "99", True),
        (TP_LIMIT, SELL, "101", False),
        (SL_MARKET, BUY, "99", True),
        (SL_MARKET, BUY, "101", False),
    ],
)
def test_trigger_semantics_are_the_chains(
    type_: OrderType, side: Side, trigger: str, crossed: bool
) -> None:
    assert triggers_at(conditional(type_, side, trigger), ORACLE) is crossed


def test_the_reviewers_take_profit_buy_far_above_the_oracle_is_refused() -> None:
    # BTC at ~29,000, trigger 9,000,000: it triggers at once, a market buy capped at 9,090,000.
    absurd = conditional(TP_MARKET, BUY, str(ORACLE * 9_000_000 / 29_000))
    err = refused(absurd)
    assert err.code == "risk_price_band_bps" and "already crossed" in err.message
    assert err.details["trigger_price"] == str(absurd.trigger_price)
    # The slippage cap alone (band turned off) refuses it too: it is a market order now.
    err = refused(absurd, RiskLimits(max_slippage_bps=500))
    assert err.code == "risk_max_slippage_bps" and err.details["worst_price"] == str(absurd.price)


def test_the_mirror_take_profit_sell_at_one_is_refused() -> None:
    assert refused(conditional(TP_MARKET, SELL, "0.0001")).code == "risk_price_band_bps"
    err = refused(conditional(TP_MARKET, SELL, "0.0001"), RiskLimits(max_slippage_bps=500))
    assert err.code == "risk_max_slippage_bps"


def test_an_immediate_trigger_is_held_to_the_market_order_slippage_around_the_oracle() -> None:
    # Within the band, but worst 106.05: 605 bps above the oracle, more than 500.
    assert refused(conditional(TP_MARKET, BUY, "105")).code == "risk_max_slippage_bps"
    passes(conditional(TP_MARKET, BUY, "103"))  # worst 104.03: 403 bps
    # Sell side: worst 94.05 is 595 bps below the oracle; 97.02 is 298.
    assert refused(conditional(TP_MARKET, SELL, "95")).code == "risk_max_slippage_bps"
    passes(conditional(TP_MARKET, SELL, "98"))
    # A crossed stop whose worst price is on the caller's good side of the oracle: no slippage.
    passes(conditional(SL_MARKET, SELL, "104"))
    passes(conditional(SL_MARKET, BUY, "96"))


def test_a_trigger_not_yet_reached_is_free_and_the_order_is_held_to_its_price() -> None:
    # A stop-loss 50% below the market and a take-profit 3x above: legitimate, never executed
    # further than the slippage from the price at which they trigger.
    passes(conditional(SL_MARKET, SELL, "50"))
    passes(conditional(TP_MARKET, SELL, "300"))
    passes(conditional(SL_MARKET, BUY, "150"))
    passes(conditional(TP_MARKET, BUY, "1"))
    # Their limit price is banded around the trigger, where the oracle will be.
    passes(conditional(SL_LIMIT, SELL, "50", price="46"))
    passes(conditional(TP_LIMIT, SELL, "300", price="310"))
    err = refused(conditional(SL_LIMIT, SELL, "50", price="40"))  # 2,000 bps from the trigger
    assert err.code == "risk_price_band_bps" and err.details["reference_price"] == "50"
    # The requested slippage is still capped.
    assert refused(conditional(SL_MARKET, SELL, "50", slippage=501)).code == (
        "risk_max_slippage_bps"
    )


def test_a_conditional_limit_order_triggered_at_once_is_banded_around_the_oracle() -> None:
    passes(conditional(SL_LIMIT, BUY, "95", price="101"))
    assert refused(conditional(SL_LIMIT, BUY, "95", price="111")).code == "risk_price_band_bps"
    # Its trigger too: a stop-loss buy at 80 is no condition at all with the oracle at 100.
    err = refused(conditional(SL_LIMIT, BUY, "80", price="100"))
    assert err.code == "risk_price_band_bps" and err.details["trigger_price"] == "80"
    assert refused(conditional(TP_LIMIT, BUY, "200", price="100")).code == "risk_price_band_bps"


def test_reduce_only_conditional_orders_are_held_to_the_same_prices() -> None:
    ro = replace(conditional(TP_MARKET, SELL, "0.0001"), reduce_only=True)
    assert refused(ro).code == "risk_price_band_bps"


def test_without_an_oracle_price_a_conditional_order_fails_closed() -> None:
    o = conditional(SL_MARKET, SELL, "50")
    with pytest.raises(RiskDataUnavailable):
        check_order(o, RiskLimits(max_slippage_bps=500), scope="*", oracle=None, exposure=None)
    # No price limit at all: nothing to check, no oracle needed.
    check_order(o, RiskLimits(), scope="*", oracle=None, exposure=None)
