"""The pre-trade risk check and the trading state, pure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dydx_router.domain.errors import (
    RiskDataUnavailable,
    RiskLimitBreached,
    TradingHalted,
    TradingReduceOnly,
)
from dydx_router.domain.market import Side
from dydx_router.domain.order import OrderType
from dydx_router.domain.risk import (
    Exposure,
    ProposedOrder,
    RiskLimits,
    RiskPolicy,
    TradingState,
    check_order,
    check_trading_state,
)

D = Decimal
ORACLE = D("100")


def order(**kw: object) -> ProposedOrder:
    base: dict[str, object] = {
        "market": "ETH-USD",
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "size": D("1"),
        "price": D("100"),
        "reduce_only": False,
        "slippage_bps": None,
    }
    return ProposedOrder(**(base | kw))  # type: ignore[arg-type]


def breach(o: ProposedOrder, limits: RiskLimits, exposure: Exposure | None = None) -> str:
    with pytest.raises(RiskLimitBreached) as info:
        check_order(o, limits, scope="ETH-USD", oracle=ORACLE, exposure=exposure or Exposure())
    return info.value.code


def passes(o: ProposedOrder, limits: RiskLimits, exposure: Exposure | None = None) -> None:
    check_order(o, limits, scope="ETH-USD", oracle=ORACLE, exposure=exposure or Exposure())


def test_every_limit_names_itself_and_its_value() -> None:
    with pytest.raises(RiskLimitBreached) as info:
        check_order(
            order(size=D("2")),
            RiskLimits(max_order_size=D("1.5")),
            scope="ETH-USD",
            oracle=ORACLE,
            exposure=None,
        )
    err = info.value
    assert err.code == "risk_max_order_size"
    assert err.details["limit"] == "max_order_size" and err.details["limit_value"] == "1.5"
    assert err.details["scope"] == "ETH-USD" and "1.5" in err.message


def test_order_size_and_notional() -> None:
    assert breach(order(size=D("1.01")), RiskLimits(max_order_size=D("1"))) == "risk_max_order_size"
    passes(order(size=D("1")), RiskLimits(max_order_size=D("1")))
    # Notional uses the larger of the order price and the oracle: a low sell price cannot hide it.
    low_sell = order(side=Side.SELL, price=D("1"), size=D("2"))
    assert breach(low_sell, RiskLimits(max_order_notional=D("150"))) == "risk_max_order_notional"
    passes(order(size=D("1.5")), RiskLimits(max_order_notional=D("150")))


def test_price_band_applies_to_limit_priced_orders_only() -> None:
    limits = RiskLimits(price_band_bps=500)  # 5 %
    passes(order(price=D("105")), limits)
    assert breach(order(price=D("105.01")), limits) == "risk_price_band_bps"
    assert breach(order(type=OrderType.STOP_LIMIT, price=D("94")), limits) == "risk_price_band_bps"
    # A market order's price is its worst price: slippage governs it, not the band.
    passes(order(type=OrderType.MARKET, price=D("120"), slippage_bps=100), limits)
    with pytest.raises(RiskDataUnavailable):
        check_order(order(), limits, scope="*", oracle=None, exposure=None)


def test_slippage_applies_to_market_like_orders() -> None:
    limits = RiskLimits(max_slippage_bps=50)
    m = order(type=OrderType.MARKET, slippage_bps=51)
    assert breach(m, limits) == "risk_max_slippage_bps"
    passes(order(type=OrderType.MARKET, slippage_bps=50), limits)
    assert breach(order(type=OrderType.STOP_MARKET, slippage_bps=80), limits) == (
        "risk_max_slippage_bps"
    )


def test_open_orders_count_this_order() -> None:
    limits = RiskLimits(max_open_orders=3)
    passes(order(), limits, Exposure(open_orders=2))
    assert breach(order(), limits, Exposure(open_orders=3)) == "risk_max_open_orders"


def test_position_limit_counts_open_orders_on_the_same_side() -> None:
    limits = RiskLimits(max_position_notional=D("1000"))  # 10 units at 100
    passes(order(size=D("2")), limits, Exposure(position=D("8")))
    assert breach(order(size=D("2")), limits, Exposure(position=D("8"), open_buy_size=D("1"))) == (
        "risk_max_position_notional"
    )
    # Open sells do not make a buy riskier.
    passes(order(size=D("2")), limits, Exposure(position=D("8"), open_sell_size=D("5")))
    # Shorts are symmetric.
    short = order(side=Side.SELL, size=D("3"))
    assert breach(short, limits, Exposure(position=D("-8"))) == "risk_max_position_notional"


def test_an_order_toward_zero_passes_even_over_the_limit() -> None:
    limits = RiskLimits(max_position_notional=D("1000"))
    passes(order(side=Side.SELL, size=D("5")), limits, Exposure(position=D("30")))
    # Flipping through zero to beyond the limit on the other side is an increase.
    flip = order(side=Side.SELL, size=D("45"))
    assert breach(flip, limits, Exposure(position=D("30"))) == "risk_max_position_notional"


def test_reduce_only_skips_exposure_limits_but_not_price_limits() -> None:
    limits = RiskLimits(
        max_order_size=D("0.1"),
        max_order_notional=D("1"),
        max_position_notional=D("1"),
        max_open_orders=0,
        max_slippage_bps=10,
    )
    ro = order(type=OrderType.MARKET, reduce_only=True, size=D("50"), slippage_bps=10)
    check_order(ro, limits, scope="*", oracle=ORACLE, exposure=None)
    with pytest.raises(RiskLimitBreached):
        check_order(
            order(type=OrderType.MARKET, reduce_only=True, slippage_bps=11),
            limits,
            scope="*",
            oracle=ORACLE,
            exposure=None,
        )


def test_missing_exposure_fails_closed() -> None:
    with pytest.raises(RiskDataUnavailable):
        check_order(order(), RiskLimits(max_open_orders=5), scope="*", oracle=ORACLE, exposure=None)


def test_market_limits_override_global_field_by_field() -> None:
    policy = RiskPolicy(
        global_limits=RiskLimits(max_order_size=D("1"), max_open_orders=10),
        markets=(("BTC-USD", RiskLimits(max_order_size=D("0.1"), max_open_orders=0)),),
    )
    btc = policy.limits_for("BTC-USD")
    assert btc.max_order_size == D("0.1") and btc.max_open_orders == 0  # 0 is a limit, not unset
    assert policy.limits_for("ETH-USD") == RiskLimits(max_order_size=D("1"), max_open_orders=10)
    assert RiskLimits().empty and not btc.empty


def test_trading_state() -> None:
    check_trading_state(TradingState.ACTIVE, reduce_only=False)
    check_trading_state(TradingState.REDUCE_ONLY, reduce_only=True)
    with pytest.raises(TradingReduceOnly):
        check_trading_state(TradingState.REDUCE_ONLY, reduce_only=False)
    for reduce_only in (True, False):
        with pytest.raises(TradingHalted):
            check_trading_state(TradingState.HALTED, reduce_only=reduce_only)
