"""Risk limits, kill switch, audit log and cross-replica notifications on real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from dydx_router.domain.access import Actor
from dydx_router.domain.market import Side
from dydx_router.domain.order import OrderStatus
from dydx_router.domain.risk import GLOBAL, RiskLimits, TradingState
from dydx_router.service import admin
from dydx_router.service.risk import RiskControls, controls_loader
from dydx_router.store import notify
from dydx_router.store.database import create_pool
from dydx_router.store.uow import UnitOfWork, UnitOfWorkFactory
from tests.fixtures.db import fresh_database
from tests.router.integration.store.test_orders_repository import ADDRESS, make_order

pytestmark = pytest.mark.integration
D = Decimal


@pytest.fixture(scope="module")
def security_db(pg_server_url: str) -> Iterator[str]:
    with fresh_database(pg_server_url, "security") as url:
        yield url


@pytest.fixture
async def pool(security_db: str) -> AsyncIterator[Any]:
    pool = await create_pool(security_db, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        # The audit log refuses TRUNCATE (migration 0008); the test resets it as a replica
        # would apply changes, with triggers off (superuser only, for this one transaction).
        await conn.execute(
            "BEGIN; SET LOCAL session_replication_role = replica; "
            "TRUNCATE risk_limits, audit_log, order_status_history, orders, api_keys CASCADE; "
            "UPDATE trading_state SET state = 'ACTIVE', reason = 'test'; COMMIT"
        )
    yield pool
    await pool.close()


async def test_limits_round_trip_exactly_and_constraints_hold(pool: Any) -> None:
    limits = RiskLimits(
        max_order_size=D("0.000000001"),
        max_order_notional=D("123456789.123456789"),
        max_open_orders=0,
        price_band_bps=250,
    )
    async with UnitOfWork(pool) as uow:
        await uow.risk.put(GLOBAL, limits, None)
        await uow.risk.put("BTC-USD", RiskLimits(max_slippage_bps=30), None)
        await uow.commit()
    async with UnitOfWork(pool) as uow:
        policy = await uow.risk.policy()
    assert policy.global_limits == limits
    assert policy.limits_for("BTC-USD").max_slippage_bps == 30
    assert policy.limits_for("BTC-USD").max_order_size == D("0.000000001")
    async with UnitOfWork(pool) as uow:
        with pytest.raises(asyncpg.CheckViolationError):
            await uow.risk.put("ETH-USD", RiskLimits(max_order_size=D("-1")), None)
    async with UnitOfWork(pool) as uow:
        assert await uow.risk.delete("BTC-USD") and not await uow.risk.delete("BTC-USD")
        await uow.commit()


async def test_trading_state_is_one_row_and_audited(pool: Any) -> None:
    async with UnitOfWork(pool) as uow:
        record = await uow.trading_state.set(TradingState.HALTED, "incident 42", None)
        await uow.audit.record(Actor.cli(), "trading_state_set", "HALTED", reason="incident 42")
        await uow.commit()
    assert record.state is TradingState.HALTED
    async with UnitOfWork(pool) as uow:
        assert (await uow.trading_state.get()).reason == "incident 42"
        entries = await uow.audit.recent(limit=10)
        assert [(e.actor, e.action, e.details) for e in entries] == [
            ("cli", "trading_state_set", {"reason": "incident 42"})
        ]
        with pytest.raises(asyncpg.CheckViolationError):
            await uow.trading_state._conn.execute(
                "INSERT INTO trading_state (id, state) VALUES (2, 'ACTIVE')"
            )


async def test_a_change_reaches_another_replica_by_notification(
    pool: Any, security_db: str
) -> None:
    """Replica B polls only once a minute, so only the notification can tell it in time."""
    replica_b = RiskControls(controls_loader(UnitOfWorkFactory(pool)), refresh_s=60)
    await replica_b.reload()
    listener = notify.Listener(security_db)
    listener.subscribe(notify.TOPIC_TRADING_STATE, replica_b.changed)
    listener.subscribe(notify.TOPIC_RISK, replica_b.changed)
    revoked = asyncio.Event()
    listener.subscribe(notify.TOPIC_API_KEYS, revoked.set)
    tasks = [asyncio.create_task(listener.run()), asyncio.create_task(replica_b.run())]
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        assert replica_b.state is TradingState.ACTIVE
        start = time.monotonic()
        async with UnitOfWork(pool) as uow:  # replica A
            await uow.trading_state.set(TradingState.REDUCE_ONLY, "drill", None)
            await uow.commit()
        while replica_b.state is not TradingState.REDUCE_ONLY:
            assert time.monotonic() - start < 2, "replica B never heard of the change"
            await asyncio.sleep(0.005)
        async with UnitOfWork(pool) as uow:
            await uow.risk.put(GLOBAL, RiskLimits(max_open_orders=7), None)
            await uow.commit()
        while replica_b.limits_for("ETH-USD")[0].max_open_orders != 7:
            assert time.monotonic() - start < 4
            await asyncio.sleep(0.005)
        async with UnitOfWork(pool) as uow:
            key, _ = await admin.create_api_key(uow, Actor.cli(), "k", {"read"}, None)
            await admin.revoke_api_key(uow, Actor.cli(), key.id)
            await uow.commit()
        await asyncio.wait_for(revoked.wait(), 2)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_uncommitted_changes_notify_no_one(pool: Any, security_db: str) -> None:
    heard = asyncio.Event()
    listener = notify.Listener(security_db)
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        listener.subscribe(notify.TOPIC_TRADING_STATE, heard.set)
        async with UnitOfWork(pool) as uow:
            await uow.trading_state.set(TradingState.HALTED, "rolled back", None)
            # no commit: the unit of work rolls back on exit
        await asyncio.sleep(0.3)
        assert not heard.is_set()
        async with UnitOfWork(pool) as uow:
            assert (await uow.trading_state.get()).state is TradingState.ACTIVE
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_open_orders_are_the_remaining_sizes_of_non_final_orders(pool: Any) -> None:
    open_buy = make_order(1, size=D("0.5"))
    partly = make_order(2, side=Side.SELL, size=D("2"), subaccount_number=3)
    done = make_order(3, size=D("9"))
    async with UnitOfWork(pool) as uow:
        for o in (open_buy, partly, done):
            await uow.orders.add(o)
        await uow.orders.transition(done, OrderStatus.REJECTED, reason="t")
        await uow.orders.transition(partly, OrderStatus.SUBMITTED, reason="t")
        await uow.orders.transition(partly, OrderStatus.OPEN, reason="t")
        await uow.orders.transition(
            partly, OrderStatus.PARTIALLY_FILLED, reason="t", filled_size=D("0.75")
        )
        await uow.commit()
    async with UnitOfWork(pool) as uow:
        rows = await uow.risk.open_orders(ADDRESS)
        assert await uow.risk.open_orders("dydx1someoneelse") == []
    got = sorted((r.subaccount_number, r.side.value, r.remaining) for r in rows)
    assert got == [(0, "BUY", D("0.5")), (3, "SELL", D("1.25"))]
