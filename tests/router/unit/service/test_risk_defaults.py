"""Safe defaults under the stored limits, and REDUCE_ONLY until limits are set where required."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from dydx_router.config import load_settings
from dydx_router.domain.errors import RiskLimitBreached
from dydx_router.domain.market import Side
from dydx_router.domain.order import OrderType
from dydx_router.domain.risk import ProposedOrder, RiskLimits, RiskPolicy, TradingState, check_order
from dydx_router.service.risk import UNCONFIGURED, ControlsSnapshot, RiskControls

DEFAULTS = RiskLimits(
    price_band_bps=1000, max_slippage_bps=500, max_order_notional=Decimal(100_000)
)
ABSURD = ProposedOrder(
    "BTC-USD", Side.BUY, OrderType.LIMIT, Decimal("0.001"), Decimal(10_000_000), False, None
)


def controls(policy: RiskPolicy, *, required: bool = False) -> RiskControls:
    async def load() -> ControlsSnapshot:
        return ControlsSnapshot(policy, TradingState.ACTIVE, "installed")

    c = RiskControls(load, defaults=DEFAULTS, require_configured=required)
    asyncio.run(c.reload())
    return c


def test_a_fresh_install_refuses_an_absurd_price_under_the_default_band() -> None:
    c = controls(RiskPolicy())
    limits, scope = c.limits_for("BTC-USD")
    with pytest.raises(RiskLimitBreached) as info:
        check_order(ABSURD, limits, scope=scope, oracle=Decimal(50_000), exposure=None)
    assert info.value.code == "risk_price_band_bps"
    assert info.value.details["scope"] == "default"


def test_a_stored_limit_replaces_its_default_wider_or_narrower() -> None:
    wide = RiskPolicy(global_limits=RiskLimits(price_band_bps=10_000), configured=True)
    limits, scope = controls(wide).limits_for("BTC-USD")
    assert limits.price_band_bps == 10_000 and limits.max_slippage_bps == 500
    assert scope == {"": "*", "max_slippage_bps": "default", "max_order_notional": "default"}
    market = RiskPolicy(markets=(("ETH-USD", RiskLimits(max_slippage_bps=50)),))
    limits, _ = controls(market).limits_for("ETH-USD")
    assert limits.max_slippage_bps == 50 and limits.price_band_bps == 1000


def test_reduce_only_until_the_global_limits_are_set_where_required() -> None:
    assert controls(RiskPolicy(), required=True).state is TradingState.REDUCE_ONLY
    assert controls(RiskPolicy(), required=True).current.reason == UNCONFIGURED
    assert controls(RiskPolicy(configured=True), required=True).state is TradingState.ACTIVE
    assert controls(RiskPolicy(), required=False).state is TradingState.ACTIVE


def test_limits_are_required_on_testnet_and_mainnet_by_default() -> None:
    assert load_settings(network="mainnet").risk_limits_required
    assert load_settings(network="testnet").risk_limits_required
    assert not load_settings(network="devnet").risk_limits_required
    assert not load_settings(network="mainnet", require_risk_limits=False).risk_limits_required
