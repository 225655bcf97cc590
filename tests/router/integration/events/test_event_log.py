"""The event log on a real PostgreSQL: every status write has its event in the same transaction
(whatever path wrote it), and ids are given in a gap-free, increasing order even when the
writers commit out of order (so a reader resuming after id N never misses one committed later).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dydx_router.domain.order import OrderStatus
from dydx_router.domain.risk import TradingState
from dydx_router.store.batch import PlacementWriter
from dydx_router.store.events import EventRepository, Fill
from dydx_router.store.orders import ClientIds, OrderRepository
from dydx_router.store.uow import UnitOfWork
from tests.router.integration.store.test_orders_repository import make_order

pytestmark = pytest.mark.integration


async def _sequence(pool: Any) -> int:
    async with pool.acquire() as conn, conn.transaction():
        return await EventRepository(conn).sequence()


async def test_every_status_history_row_has_its_event_whatever_path_wrote_it(
    clean_db: Any,
) -> None:
    # One order per path: the unit of work's add + transition, and the batch writers.
    async with UnitOfWork(clean_db) as uow:
        a = make_order(1, status=OrderStatus.PENDING)
        await uow.orders.add(a, reason="accepted")
        await uow.orders.transition(a, OrderStatus.SUBMITTED, reason="checktx ok")
        await uow.orders.transition(
            a, OrderStatus.PARTIALLY_FILLED, reason="indexer", filled_size=Decimal("0.0100")
        )
        await uow.commit()
    writer = PlacementWriter(clean_db, ClientIds())
    batch = [make_order(10 + i, status=OrderStatus.PENDING) for i in range(5)]
    for o in batch:
        await writer.insert(o, reason="accepted", height=3)
    for o in batch:
        await writer.record(o, OrderStatus.SUBMITTED, reason="checktx ok", height=4)
    # The status stream's grouped write of a move with its fill figures, several at once.
    await asyncio.gather(
        *(
            writer.record(
                o,
                OrderStatus.FILLED,
                reason="indexer: FILLED",
                height=5,
                filled_size=o.size,
                average_fill_price=Decimal("65000.5"),
            )
            for o in batch
        )
    )
    async with clean_db.acquire() as conn:
        missing = await conn.fetchval(
            "SELECT count(*) FROM order_status_history h "
            "LEFT JOIN events e ON e.source_id = h.id AND e.kind = 'order' WHERE e.seq IS NULL"
        )
        rows = await conn.fetchval("SELECT count(*) FROM order_status_history")
        events = await conn.fetchval("SELECT count(*) FROM events WHERE kind = 'order'")
        payload = await conn.fetchval(
            "SELECT payload FROM events e JOIN order_status_history h ON h.id = e.source_id "
            "WHERE h.order_id = $1 AND h.to_status = 'PARTIALLY_FILLED'",
            a.id,
        )
    assert rows == 3 + 3 * len(batch)
    assert (missing, events) == (0, rows)
    p = payload if isinstance(payload, dict) else json.loads(payload)
    # Decimals as strings, exactly as stored; the order's fields after the change.
    assert p["filled_size"] == "0.0100"
    assert p["status"] == "PARTIALLY_FILLED" and p["market"] == "BTC-USD" and p["side"] == "BUY"
    assert p["order_id"] == str(a.id) and p["reason"] == "indexer"
    assert p["average_fill_price"] is None
    async with clean_db.acquire() as conn:
        grouped = await conn.fetch(
            "SELECT payload FROM events WHERE payload->>'status' = 'FILLED' ORDER BY seq"
        )
    assert len(grouped) == len(batch)
    for row in grouped:  # the figures written by the same statement as the status
        q = row["payload"] if isinstance(row["payload"], dict) else json.loads(row["payload"])
        assert (q["filled_size"], q["average_fill_price"]) == ("0.0123", "65000.5")


async def test_a_rolled_back_status_write_leaves_no_event(clean_db: Any) -> None:
    async with UnitOfWork(clean_db) as uow:
        await uow.orders.add(make_order(1), reason="accepted")
        # no commit: rolled back
    async with clean_db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events") == 0


async def test_ids_follow_commits_not_inserts(clean_db: Any) -> None:
    """A writer that inserted first but commits last still gets an id after everything a reader
    may already have seen: ids are given to committed rows only, in one gap-free run."""
    slow = await clean_db.acquire()
    tx = slow.transaction()
    await tx.start()
    first = make_order(1)
    await OrderRepository(slow).add(first, reason="accepted")  # inserted, not committed
    async with UnitOfWork(clean_db) as uow:
        second = make_order(2)
        await uow.orders.add(second, reason="accepted")
        await uow.commit()
    assert await _sequence(clean_db) == 1
    async with clean_db.acquire() as conn:
        seen = await EventRepository(conn).after(0)
    assert [(e.id, e.order_id) for e in seen] == [(1, second.id)]
    await tx.commit()
    await clean_db.release(slow)
    assert await _sequence(clean_db) == 1
    async with clean_db.acquire() as conn:
        after = await EventRepository(conn).after(1)
    assert [(e.id, e.order_id) for e in after] == [(2, first.id)]


async def test_fills_and_the_trading_state_write_their_events(clean_db: Any) -> None:
    async with UnitOfWork(clean_db) as uow:
        o = make_order(1)
        await uow.orders.add(o, reason="accepted")
        fill = Fill(
            id=uuid.uuid4(),
            order_id=o.id,
            market="BTC-USD",
            side="BUY",
            price=Decimal("65000.5"),
            size=Decimal("0.0010"),
            fee=Decimal("-0.01"),
            liquidity="MAKER",
            type="LIMIT",
            created_at=datetime.now(UTC),
            created_at_height=12,
            subaccount_number=0,
        )
        assert await uow.fills.add([fill, fill]) == 1
        assert await uow.fills.add([fill]) == 0  # the indexer's id: stored once
        await uow.trading_state.set(TradingState.HALTED, "drill", None)
        await uow.commit()
    await _sequence(clean_db)
    async with clean_db.acquire() as conn:
        events = await EventRepository(conn).after(0)
    assert [e.kind for e in events] == ["order", "fill", "trading_state"]
    assert events[1].payload == {
        "order_id": str(o.id),
        "market": "BTC-USD",
        "side": "BUY",
        "price": "65000.5",
        "size": "0.0010",
        "fee": "-0.01",
        "liquidity": "MAKER",
    }
    assert events[1].api_key_id == o.api_key_id
    assert events[2].payload == {"state": "HALTED", "reason": "drill"}


async def test_prune_keeps_the_newest_so_ids_never_go_back(clean_db: Any) -> None:
    async with UnitOfWork(clean_db) as uow:
        for i in range(3):
            await uow.orders.add(make_order(i + 1), reason="accepted")
        await uow.commit()
    await _sequence(clean_db)
    async with clean_db.acquire() as conn:
        repo = EventRepository(conn)
        assert await repo.prune(datetime.now(UTC) + timedelta(hours=1)) == 2
        assert await repo.bounds() == (3, 3)
    async with UnitOfWork(clean_db) as uow:
        await uow.orders.add(make_order(9), reason="accepted")
        await uow.commit()
    await _sequence(clean_db)
    async with clean_db.acquire() as conn:
        assert [e.id for e in await EventRepository(conn).after(0)] == [3, 4]
