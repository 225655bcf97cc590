"""Per-key agent limits in the pre-trade gate, against hand-written fakes (no I/O): every path
that places (place, dry run, close) is checked, a burst is counted exactly, a change is in
force at once, a refusal stores and sends nothing, an unreadable usage fails closed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from tests.router.unit.service.fakes import FakeExchange, FakeStore, FakeUnitOfWork
from tests.router.unit.service.test_pre_trade import World, buy, limit

from dydx_router.chain.errors import PriceStale
from dydx_router.domain.agent_limits import AgentLimits, AgentUsage
from dydx_router.domain.errors import AgentLimitBreached, RiskDataUnavailable, RiskLimitBreached
from dydx_router.domain.risk import RiskLimits, RiskPolicy
from dydx_router.service.agent_limits import AgentLimitsBook, day_start
from dydx_router.service.orders import Caller, OrderService
from dydx_router.service.ports import Position
from dydx_router.service.risk import ControlsSnapshot, ExposureBook, PreTradeGate, RiskControls

D = Decimal
AGENT = uuid.uuid4()
OTHER = uuid.uuid4()


class Keys:
    """What the book reads: the stored limits, and usage computed from the fake store's rows."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.stored: dict[uuid.UUID, AgentLimits] = {}
        self.usage_reads = 0
        self.fail = False

    async def limits(self) -> dict[uuid.UUID, AgentLimits]:
        return dict(self.stored)

    async def usage(self, key: uuid.UUID, day: datetime) -> AgentUsage:
        self.usage_reads += 1
        if self.fail:
            raise OSError("database down")
        mine = [o for o in self.store.rows.values() if o.api_key_id == key]
        notional = sum((o.size * (o.price or 0) for o in mine), D(0))
        return AgentUsage(notional, sum(1 for o in mine if not o.status.is_final))


@pytest.fixture
async def agents() -> tuple[Keys, OrderService, AgentLimitsBook]:
    store = FakeStore()
    exchange = FakeExchange(store)
    world = World(store, exchange)
    keys = Keys(store)
    controls = RiskControls(world.load)
    await controls.reload()
    book = AgentLimitsBook(keys.limits, keys.usage, usage_max_age_s=60)
    await book.reload()
    gate = PreTradeGate(
        controls, ExposureBook(world.open_orders, world.account), exchange.oracle_price,
        agents=book,
    )  # fmt: skip
    service = OrderService(uow=lambda: FakeUnitOfWork(store), exchange=exchange, gate=gate)
    return keys, service, book


async def set_limits(keys: Keys, book: AgentLimitsBook, key: uuid.UUID, **kw: Any) -> None:
    keys.stored[key] = AgentLimits(**kw)
    book.changed()  # what the listener does on the notification
    await book.reload()


async def test_each_limit_refuses_only_its_own_key(agents: Any) -> None:
    keys, service, book = agents
    store = keys.store
    agent, other = Caller(api_key_id=AGENT), Caller(api_key_id=OTHER)
    await set_limits(keys, book, AGENT, allowed_markets=frozenset({"ETH-USD"}))
    with pytest.raises(AgentLimitBreached) as info:
        await service.place(buy("0.01"), agent)
    assert info.value.code == "agent_market_not_allowed"
    with pytest.raises(AgentLimitBreached):
        await service.dry_run(buy("0.01"), agent)  # previews say so too
    await service.place(buy("0.01"), other)  # another key: not limited
    await set_limits(keys, book, AGENT, max_order_notional=D("1000"))
    with pytest.raises(AgentLimitBreached) as info:
        await service.place(buy("0.1"), agent)  # ~5,000 USD at the 50,000 oracle
    assert info.value.code == "agent_max_order_notional"
    assert len(store.rows) == 1 and len(service.exchange.broadcasts) == 1
    placed = await service.place(buy("0.01"), agent)
    assert placed.order.api_key_id == AGENT


async def test_a_change_is_in_force_at_once(agents: Any) -> None:
    keys, service, book = agents
    agent = Caller(api_key_id=AGENT)
    await service.place(buy("0.01"), agent)
    await set_limits(keys, book, AGENT, max_order_notional=D("10"))
    with pytest.raises(AgentLimitBreached):
        await service.place(buy("0.01"), agent)
    book.apply(AGENT, AgentLimits())  # what the admin route does on its own replica
    await service.place(buy("0.01"), agent)


async def test_a_burst_is_counted_exactly_within_one_usage_read(agents: Any) -> None:
    keys, service, book = agents
    await set_limits(keys, book, AGENT, max_open_orders=3)
    results = await asyncio.gather(
        *(service.place(limit("0.001", "40000"), Caller(api_key_id=AGENT)) for _ in range(6)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, AgentLimitBreached)]
    assert len(refused) == 3 and {r.code for r in refused} == {"agent_max_open_orders"}
    assert keys.usage_reads == 1 and len(keys.store.rows) == 3


async def test_daily_notional_counts_orders_of_the_day_and_spares_reduce_only(
    agents: Any,
) -> None:
    keys, service, book = agents
    agent = Caller(api_key_id=AGENT)
    await set_limits(keys, book, AGENT, max_daily_notional=D("1500"))
    await service.place(limit("0.02", "40000"), agent)  # 0.02 x 50,000 (oracle) = 1,000
    with pytest.raises(AgentLimitBreached) as info:
        await service.place(limit("0.02", "40000"), agent)
    assert info.value.code == "agent_max_daily_notional"
    assert info.value.details["remaining"] == "500.00"
    # A fresh read: the stored order is counted once (at its stored price), not twice.
    await book._read(AGENT, day_start(datetime.now().astimezone()), book._usage[AGENT])
    assert (await book.usage(AGENT)).daily_notional == D("800.00")
    service.exchange.positions = [Position("BTC-USD", D("0.05"), None, None)]
    close = await service.close_position("BTC-USD", agent)
    assert close.order.reduce_only


async def test_a_refusal_after_the_agent_check_releases_its_reservation(agents: Any) -> None:
    keys, service, book = agents
    agent = Caller(api_key_id=AGENT)
    await set_limits(keys, book, AGENT, max_open_orders=1)
    gate = service.gate
    gate.controls.apply(
        ControlsSnapshot(
            RiskPolicy(global_limits=RiskLimits(max_order_size=D("0.001"))),
            gate.controls.state,
        )
    )
    with pytest.raises(RiskLimitBreached):
        await service.place(limit("0.01", "40000"), agent)
    assert (await book.usage(AGENT)).open_orders == 0  # not held by the refused order
    await service.place(limit("0.001", "40000"), agent)


async def test_unreadable_usage_fails_closed(agents: Any) -> None:
    keys, service, book = agents
    keys.fail = True
    await set_limits(keys, book, AGENT, max_daily_notional=D("1000000"))
    with pytest.raises(RiskDataUnavailable):
        await service.place(buy("0.01"), Caller(api_key_id=AGENT))
    assert keys.store.rows == {}
    await set_limits(keys, book, AGENT, max_order_notional=D("1000000"))
    await service.place(buy("0.01"), Caller(api_key_id=AGENT))  # no usage needed: no read


async def test_orders_placed_while_unlimited_count_once_limits_return(agents: Any) -> None:
    keys, service, book = agents
    agent = Caller(api_key_id=AGENT)
    await set_limits(keys, book, AGENT, max_open_orders=2)
    await service.place(limit("0.001", "40000"), agent)  # read: 0 open, then reserved
    book.apply(AGENT, AgentLimits())  # limits removed: the next order reserves nothing
    await service.place(limit("0.001", "40000"), agent)
    book.apply(AGENT, AgentLimits(max_open_orders=2))
    with pytest.raises(AgentLimitBreached):  # both open orders are seen, not only the first
        await service.place(limit("0.001", "40000"), agent)


async def test_a_stale_price_fails_limited_keys_closed_and_leaves_others_alone(
    agents: Any,
) -> None:
    keys, service, book = agents
    await set_limits(keys, book, AGENT, max_order_notional=D("1000000"))

    def stale(market: str) -> Decimal:
        raise PriceStale(f"the {market} oracle price is too old")

    service.gate.oracle_price = stale
    order = limit("0.001", "40000")  # a limit order: the router itself needs no price for it
    await service.place(order, Caller(api_key_id=OTHER))
    with pytest.raises(PriceStale):
        await service.place(order, Caller(api_key_id=AGENT))
