"""The pre-trade gate in the order path, against hand-written fakes (no I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
from tests.router.unit.service.fakes import FakeExchange, FakeStore, FakeUnitOfWork
from tests.router.unit.service.test_throttle import FakeHeights

from dydx_router.domain.errors import (
    ChainRateLimited,
    RiskDataUnavailable,
    RiskLimitBreached,
    TradingHalted,
    TradingReduceOnly,
)
from dydx_router.domain.market import Side
from dydx_router.domain.order import OrderStatus, OrderType
from dydx_router.domain.planning import OrderRequest
from dydx_router.domain.risk import OpenOrder, RiskLimits, RiskPolicy, TradingState
from dydx_router.service.orders import Caller, OrderService, PlaceOrder
from dydx_router.service.ports import AccountSnapshot, Position
from dydx_router.service.risk import ControlsSnapshot, ExposureBook, PreTradeGate, RiskControls
from dydx_router.service.throttle import BlockLimit, ChainLimits, ChainThrottle

D = Decimal


class World:
    """What the gate reads: the controls in the database, open orders and positions."""

    def __init__(self, store: FakeStore, exchange: FakeExchange) -> None:
        self.store, self.exchange = store, exchange
        self.snapshot = ControlsSnapshot(RiskPolicy(), TradingState.ACTIVE)
        self.reads = 0
        self.fail = False

    async def load(self) -> ControlsSnapshot:
        return self.snapshot

    async def open_orders(self) -> Sequence[OpenOrder]:
        self.reads += 1
        if self.fail:
            raise OSError("database down")
        return [
            OpenOrder(o.subaccount_number, o.market, o.side, o.size - o.filled_size)
            for o in self.store.rows.values()
            if not o.status.is_final
        ]

    async def account(self, sub: int) -> AccountSnapshot:
        return await self.exchange.account(sub)


@pytest.fixture
async def gated() -> tuple[World, OrderService, PreTradeGate]:
    store = FakeStore()
    exchange = FakeExchange(store)
    world = World(store, exchange)
    controls = RiskControls(world.load)
    await controls.reload()
    gate = PreTradeGate(
        controls,
        ExposureBook(world.open_orders, world.account),
        exchange.oracle_price,
        ChainThrottle(FakeHeights(), limits=ChainLimits(), max_wait_s=0),
    )
    service = OrderService(uow=lambda: FakeUnitOfWork(store), exchange=exchange, gate=gate)
    return world, service, gate


async def set_controls(gate: PreTradeGate, world: World, **kw: Any) -> None:
    world.snapshot = ControlsSnapshot(**kw)
    await gate.controls.reload()


def buy(size: str = "0.01", **kw: Any) -> PlaceOrder:
    req = OrderRequest(market="BTC-USD", side=Side.BUY, type=OrderType.MARKET, size=D(size), **kw)
    return PlaceOrder(request=req, subaccount_number=0)


def limit(size: str, price: str) -> PlaceOrder:
    req = OrderRequest(
        market="BTC-USD", side=Side.BUY, type=OrderType.LIMIT, size=D(size), price=D(price)
    )
    return PlaceOrder(request=req, subaccount_number=0)


async def test_a_breach_stores_and_sends_nothing(gated: Any) -> None:
    world, service, gate = gated
    policy = RiskPolicy(global_limits=RiskLimits(max_order_notional=D("1000")))
    await set_controls(gate, world, policy=policy, state=TradingState.ACTIVE)
    with pytest.raises(RiskLimitBreached) as info:
        await service.place(buy("0.1"), Caller())  # ~5,000 USD at the 50,000 oracle
    assert info.value.code == "risk_max_order_notional"
    assert world.store.rows == {} and world.exchange.broadcasts == []
    with pytest.raises(RiskLimitBreached):
        await service.dry_run(buy("0.1"), Caller())
    ok = await service.place(buy("0.01"), Caller())
    assert ok.order.status is OrderStatus.SUBMITTED


async def test_halted_and_reduce_only(gated: Any) -> None:
    world, service, gate = gated
    await set_controls(gate, world, policy=RiskPolicy(), state=TradingState.HALTED)
    with pytest.raises(TradingHalted):
        await service.place(buy(), Caller())
    await set_controls(gate, world, policy=RiskPolicy(), state=TradingState.REDUCE_ONLY)
    with pytest.raises(TradingReduceOnly):
        await service.place(buy(), Caller())
    placed = await service.place(buy(reduce_only=True), Caller())
    assert placed.order.reduce_only
    assert len(world.store.rows) == 1 and len(world.exchange.broadcasts) == 1


async def test_controls_fail_closed_until_loaded() -> None:
    controls = RiskControls(lambda: asyncio.sleep(0, ControlsSnapshot(RiskPolicy(), "ACTIVE")))  # type: ignore[arg-type,return-value]
    assert controls.state is TradingState.HALTED and not controls.loaded


async def test_a_burst_within_one_snapshot_is_counted_exactly(gated: Any) -> None:
    world, service, gate = gated
    policy = RiskPolicy(global_limits=RiskLimits(max_open_orders=3))
    await set_controls(gate, world, policy=policy, state=TradingState.ACTIVE)
    # Resting limit orders far below the oracle: each stays open.
    results = await asyncio.gather(
        *(service.place(limit("0.001", "40000"), Caller()) for _ in range(5)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, RiskLimitBreached)]
    assert len(refused) == 2 and {r.code for r in refused} == {"risk_max_open_orders"}
    assert world.reads == 1  # one snapshot for the whole burst, not one read per order
    assert len(world.store.rows) == 3


async def test_a_fresh_snapshot_replaces_reservations_without_double_counting(gated: Any) -> None:
    world, service, gate = gated
    policy = RiskPolicy(global_limits=RiskLimits(max_open_orders=3))
    await set_controls(gate, world, policy=policy, state=TradingState.ACTIVE)
    for _ in range(2):
        await service.place(limit("0.001", "40000"), Caller())
    await gate.exposure.refresh([0])  # the database now shows both; the reservations go
    exposure = await gate.exposure.exposure(0, "BTC-USD")
    assert exposure.open_orders == 2 and exposure.open_buy_size == D("0.002")
    await service.place(limit("0.001", "40000"), Caller())
    with pytest.raises(RiskLimitBreached):
        await service.place(limit("0.001", "40000"), Caller())


async def test_position_limit_uses_position_and_open_orders(gated: Any) -> None:
    world, service, gate = gated
    world.exchange.positions = [Position("BTC-USD", D("0.05"), None, None)]
    policy = RiskPolicy(global_limits=RiskLimits(max_position_notional=D("3000")))
    await set_controls(gate, world, policy=policy, state=TradingState.ACTIVE)
    await service.place(limit("0.005", "40000"), Caller())  # 0.055 x 50,000 = 2,750
    with pytest.raises(RiskLimitBreached) as info:
        await service.place(limit("0.006", "40000"), Caller())  # 0.061 x 50,000 = 3,050
    assert info.value.code == "risk_max_position_notional"
    sell = OrderRequest(market="BTC-USD", side=Side.SELL, type=OrderType.MARKET, size=D("0.01"))
    await service.place(PlaceOrder(request=sell, subaccount_number=0), Caller())


async def test_unreadable_exposure_fails_closed(gated: Any) -> None:
    world, service, gate = gated
    world.fail = True
    policy = RiskPolicy(global_limits=RiskLimits(max_open_orders=10))
    await set_controls(gate, world, policy=policy, state=TradingState.ACTIVE)
    with pytest.raises(RiskDataUnavailable):
        await service.place(buy(), Caller())
    assert world.store.rows == {}


async def test_chain_rate_refusal_persists_nothing(gated: Any) -> None:
    world, service, gate = gated
    assert gate.throttle is not None
    gate.throttle.configure(ChainLimits(short_term_orders_and_cancels=(BlockLimit(2, 5),)))
    await service.place(buy(), Caller())
    await service.place(buy(), Caller())
    with pytest.raises(ChainRateLimited):
        await service.place(buy(), Caller())
    assert len(world.store.rows) == 2 and len(world.exchange.broadcasts) == 2
