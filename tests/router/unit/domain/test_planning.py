from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dydx_router.domain.errors import InvalidOrder
from dydx_router.domain.market import MarketSpec, Side
from dydx_router.domain.order import OrderFlags, OrderType, TimeInForce
from dydx_router.domain.planning import (
    ChainTimeInForce,
    ConditionType,
    OrderRequest,
    PlanningContext,
    plan_order,
)

# BTC-USD at mainnet genesis (dydxopsdao/networks dydx-mainnet-1/genesis.json): step 0.0001 BTC,
# tick 1 USD.
BTC = MarketSpec(
    ticker="BTC-USD",
    clob_pair_id=0,
    atomic_resolution=-10,
    quantum_conversion_exponent=-9,
    step_base_quantums=1_000_000,
    subticks_per_tick=100_000,
)
NOW = datetime(2026, 11, 24, 12, 0, 0, 500_000, tzinfo=UTC)


def ctx(**kw: Any) -> PlanningContext:
    base: dict[str, Any] = {
        "spec": BTC,
        "height": 1000,
        "now": NOW,
        "good_til_block_offset": 20,
        "default_good_til_seconds": 3600,
        "default_slippage_bps": 100,
        "reference_price": Decimal("60000"),
    }
    base.update(kw)
    return PlanningContext(**base)


def req(**kw: Any) -> OrderRequest:
    base: dict[str, Any] = {
        "market": "BTC-USD",
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "size": Decimal("0.001"),
        "price": Decimal("59000"),
    }
    base.update(kw)
    return OrderRequest(**base)


def test_market_buy_is_short_term_ioc_at_oracle_plus_slippage() -> None:
    plan = plan_order(req(type=OrderType.MARKET, price=None), ctx())
    assert plan.order_flags == OrderFlags.SHORT_TERM and plan.is_short_term
    assert plan.chain_time_in_force is ChainTimeInForce.IOC
    assert plan.good_til_block == 1020 and plan.good_til_block_time is None
    assert plan.price == Decimal("60600")  # 60000 × 1.01
    assert plan.quantums == 10_000_000 and plan.slippage_bps == 100


def test_market_sell_worst_price_rounds_up_to_the_tick() -> None:
    plan = plan_order(
        req(type=OrderType.MARKET, price=None, side=Side.SELL, max_slippage_bps=33),
        ctx(reference_price=Decimal("60000.5")),
    )
    # 60000.5 × 0.9967 = 59802.49835 -> a sell rounds up (less aggressive): 59803
    assert plan.price == Decimal("59803")


def test_resting_limit_is_long_term_with_whole_second_expiry() -> None:
    plan = plan_order(req(good_til_seconds=120), ctx())
    assert plan.order_flags == OrderFlags.LONG_TERM
    assert plan.chain_time_in_force is ChainTimeInForce.UNSPECIFIED
    assert plan.good_til_block_time == datetime(2026, 11, 24, 12, 2, tzinfo=UTC)
    assert plan.subticks == 5_900_000_000


def test_limit_with_blocks_is_short_term_and_post_only_maps() -> None:
    plan = plan_order(req(post_only=True, good_til_blocks=5), ctx())
    assert plan.order_flags == OrderFlags.SHORT_TERM and plan.good_til_block == 1005
    assert plan.time_in_force is TimeInForce.POST_ONLY
    assert plan.chain_time_in_force is ChainTimeInForce.POST_ONLY


def test_conditional_orders() -> None:
    stop = plan_order(
        req(type=OrderType.STOP_MARKET, price=None, side=Side.SELL, trigger_price=Decimal("55000")),
        ctx(),
    )
    assert stop.order_flags == OrderFlags.CONDITIONAL
    assert stop.condition_type is ConditionType.STOP_LOSS
    assert stop.chain_time_in_force is ChainTimeInForce.IOC
    assert stop.trigger_subticks == 5_500_000_000
    assert stop.price == Decimal("54450")  # trigger × 0.99 for a sell
    assert stop.good_til_block_time == (NOW + timedelta(hours=1)).replace(microsecond=0)
    tp = plan_order(req(type=OrderType.TAKE_PROFIT_LIMIT, trigger_price=Decimal("65000")), ctx())
    assert tp.condition_type is ConditionType.TAKE_PROFIT
    assert tp.chain_time_in_force is ChainTimeInForce.UNSPECIFIED


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"type": OrderType.MARKET}, "price_not_allowed"),
        ({"price": None}, "price_required"),
        ({"type": OrderType.STOP_LIMIT}, "trigger_price_required"),
        ({"trigger_price": Decimal(1)}, "trigger_price_not_allowed"),
        ({"reduce_only": True}, "reduce_only_requires_ioc"),
        ({"max_slippage_bps": 10}, "slippage_not_allowed"),
        ({"good_til_blocks": 3, "good_til_seconds": 3}, "conflicting_expiry"),
        ({"good_til_blocks": 41}, "invalid_good_til_blocks"),
        ({"good_til_seconds": 96 * 86400}, "invalid_good_til_seconds"),
        ({"post_only": True, "time_in_force": TimeInForce.IOC}, "conflicting_time_in_force"),
        (
            {"type": OrderType.MARKET, "price": None, "time_in_force": TimeInForce.GTT},
            "conflicting_time_in_force",
        ),
        ({"size": Decimal("0.00015")}, "invalid_size_step"),
        ({"price": Decimal("59000.5")}, "invalid_price_tick"),
    ],
)
def test_rejections_have_stable_codes(kw: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidOrder) as info:
        plan_order(req(**kw), ctx())
    assert info.value.code == code


def test_market_order_needs_a_reference_price() -> None:
    with pytest.raises(InvalidOrder) as info:
        plan_order(req(type=OrderType.MARKET, price=None), ctx(reference_price=None))
    assert info.value.code == "reference_price_unavailable"


def test_reduce_only_ioc_is_allowed() -> None:
    plan = plan_order(req(reduce_only=True, time_in_force=TimeInForce.IOC), ctx())
    assert plan.is_short_term
