"""Two replicas (two services, two exposure books) on one store: the re-check at the insert
(service/admission.py) counts the other replica's orders that the snapshots have not seen."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.router.unit.service.fakes import FakeExchange, FakeStore, FakeUnitOfWork
from tests.router.unit.service.test_pre_trade import World, limit
from tests.router.unit.service.test_throttle import FakeHeights

from dydx_router.domain.errors import RiskLimitBreached
from dydx_router.domain.risk import RiskLimits, RiskPolicy, TradingState
from dydx_router.service.orders import Caller, OrderService
from dydx_router.service.risk import ControlsSnapshot, ExposureBook, PreTradeGate, RiskControls
from dydx_router.service.throttle import ChainLimits, ChainThrottle


async def replica(store: FakeStore, policy: RiskPolicy) -> OrderService:
    exchange = FakeExchange(store)
    world = World(store, exchange)
    world.snapshot = ControlsSnapshot(policy, TradingState.ACTIVE)
    controls = RiskControls(world.load)
    await controls.reload()
    gate = PreTradeGate(
        controls,
        ExposureBook(world.open_orders, world.account, refresh_s=60, max_age_s=60),
        exchange.oracle_price,
        ChainThrottle(FakeHeights(), limits=ChainLimits(), max_wait_s=0),
    )
    return OrderService(uow=lambda: FakeUnitOfWork(store), exchange=exchange, gate=gate)


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (RiskLimits(max_open_orders=3), "risk_max_open_orders"),
        # 0.001 BTC at the 50,000 oracle: 50 USD an order; three fit in 150.
        (RiskLimits(max_position_notional=Decimal("150")), "risk_max_position_notional"),
    ],
)
async def test_two_replicas_together_stay_within_a_limit(limits: RiskLimits, code: str) -> None:
    store = FakeStore()
    policy = RiskPolicy(global_limits=limits)
    a, b = await replica(store, policy), await replica(store, policy)
    # Both snapshots are taken now (no orders) and stay fresh for the whole test: each replica
    # alone would admit three.
    await a.place(limit("0.001", "40000"), Caller())
    await b.place(limit("0.001", "40000"), Caller())
    await a.place(limit("0.001", "40000"), Caller())
    with pytest.raises(RiskLimitBreached) as info:
        await b.place(limit("0.001", "40000"), Caller())
    assert info.value.code == code
    assert len(store.rows) == 3
