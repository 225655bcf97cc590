"""The orders repository and unit of work on a real PostgreSQL with migrations applied."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest

from dydx_router.domain.errors import (
    ConcurrentUpdate,
    DuplicateOrder,
    IllegalTransition,
    OrderNotFound,
)
from dydx_router.domain.order import (
    MAX_CLIENT_ID,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from dydx_router.domain.queries import Cursor, OrderFilter
from dydx_router.store.uow import UnitOfWork

pytestmark = pytest.mark.integration
ADDRESS = "dydx1testaddressxxxxxxxxxxxxxxxxxxxxxxxxxx"


def make_order(client_id: int, **overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "market": "BTC-USD",
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "time_in_force": TimeInForce.GTT,
        "size": Decimal("0.0123"),
        "price": Decimal("65000.5"),
        "quantums": 123_000_000,
        "subticks": 6_500_050_000,
        "client_id": client_id,
        "order_flags": 64,
        "clob_pair_id": 0,
        "address": ADDRESS,
        "subaccount_number": 0,
        "indexer_order_id": uuid.uuid4(),
    }
    fields.update(overrides)
    return Order(**fields)


async def _history_count(pool: Any, order_id: uuid.UUID) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM order_status_history WHERE order_id = $1", order_id
        )
        return n


async def test_add_and_get_round_trip_exact_values(rolled_back_db: Any) -> None:
    order = make_order(7, quantums=18_446_744_073_709_551_615, trigger_subticks=5)
    async with UnitOfWork(rolled_back_db) as uow:
        await uow.orders.add(order)
        await uow.commit()
    async with UnitOfWork(rolled_back_db) as uow:
        got = await uow.orders.get(order.id)
    assert got.quantums == 18_446_744_073_709_551_615  # uint64 max survives NUMERIC(20,0)
    assert got.size == Decimal("0.0123") and got.price == Decimal("65000.5")
    assert got.status is OrderStatus.PENDING
    assert [(h.from_status, h.to_status) for h in got.history] == [(None, OrderStatus.PENDING)]


async def test_uncommitted_work_is_rolled_back(rolled_back_db: Any) -> None:
    order = make_order(8)
    async with UnitOfWork(rolled_back_db) as uow:
        await uow.orders.add(order)
    async with UnitOfWork(rolled_back_db) as uow:
        with pytest.raises(OrderNotFound):
            await uow.orders.get(order.id)
    assert await _history_count(rolled_back_db, order.id) == 0


async def test_one_history_row_per_status_change_in_the_same_transaction(clean_db: Any) -> None:
    order = make_order(9)
    async with UnitOfWork(clean_db) as uow:
        await uow.orders.add(order)
        await uow.commit()
        await uow.orders.transition(
            order, OrderStatus.SUBMITTED, reason="checktx_ok", height=10, tx_hash="AB" * 32
        )
        await uow.orders.transition(order, OrderStatus.OPEN, reason="indexer", height=11)
        # Not committed yet: another connection sees neither the status nor the history rows.
        async with clean_db.acquire() as other:
            row = await other.fetchrow("SELECT status FROM orders WHERE id = $1", order.id)
            assert row["status"] == "PENDING"
        assert await _history_count(clean_db, order.id) == 1
        await uow.commit()
    assert await _history_count(clean_db, order.id) == 3
    # A transition that is never committed leaves neither the status nor its history row.
    async with UnitOfWork(clean_db) as uow:
        got = await uow.orders.get(order.id)
        await uow.orders.transition(
            got, OrderStatus.FILLED, reason="fill", height=12, filled_size=Decimal("0.0123")
        )
    async with UnitOfWork(clean_db) as uow:
        got = await uow.orders.get(order.id)
    assert got.status is OrderStatus.OPEN and got.tx_hash == "AB" * 32
    assert [(h.from_status, h.to_status, h.chain_height) for h in got.history] == [
        (None, OrderStatus.PENDING, None),
        (OrderStatus.PENDING, OrderStatus.SUBMITTED, 10),
        (OrderStatus.SUBMITTED, OrderStatus.OPEN, 11),
    ]


async def test_illegal_transition_raises_and_writes_nothing(rolled_back_db: Any) -> None:
    order = make_order(10)
    async with UnitOfWork(rolled_back_db) as uow:
        await uow.orders.add(order)
        await uow.commit()
        with pytest.raises(IllegalTransition):
            await uow.orders.transition(order, OrderStatus.FILLED, reason="nope")
        await uow.commit()
    assert await _history_count(rolled_back_db, order.id) == 1


async def test_concurrent_transitions_exactly_one_wins(clean_db: Any) -> None:
    order = make_order(11)
    async with UnitOfWork(clean_db) as uow:
        await uow.orders.add(order)
        await uow.commit()

    async def attempt(target: OrderStatus) -> str:
        async with UnitOfWork(clean_db) as uow:
            mine = await uow.orders.get(order.id, with_history=False)
            await asyncio.sleep(0.01)  # both have read PENDING before either writes
            try:
                await uow.orders.transition(mine, target, reason="race")
                await uow.commit()
                return "won"
            except ConcurrentUpdate:
                return "lost"

    results = await asyncio.gather(attempt(OrderStatus.SUBMITTED), attempt(OrderStatus.UNKNOWN))
    assert sorted(results) == ["lost", "won"]
    assert await _history_count(clean_db, order.id) == 2


async def test_chain_order_id_and_idempotency_key_are_unique(rolled_back_db: Any) -> None:
    async with UnitOfWork(rolled_back_db) as uow:
        await uow.orders.add(make_order(12, idempotency_key="k1"))
        await uow.commit()
    async with UnitOfWork(rolled_back_db) as uow:
        with pytest.raises(DuplicateOrder):
            await uow.orders.add(make_order(12))
    async with UnitOfWork(rolled_back_db) as uow:
        with pytest.raises(DuplicateOrder):
            await uow.orders.add(make_order(13, idempotency_key="k1"))
    async with UnitOfWork(rolled_back_db) as uow:
        found = await uow.orders.find_by_idempotency_key(None, "k1")
    assert found is not None and found.client_id == 12


async def test_client_ids_are_unique_under_concurrency(clean_db: Any) -> None:
    async def take() -> int:
        async with UnitOfWork(clean_db) as uow:
            return await uow.orders.next_client_id()

    ids = await asyncio.gather(*(take() for _ in range(50)))
    assert len(set(ids)) == 50
    assert all(0 < i <= MAX_CLIENT_ID for i in ids)


async def test_history_is_newest_first_with_keyset_cursor_and_filters(clean_db: Any) -> None:
    async with UnitOfWork(clean_db) as uow:
        for i in range(25):
            market = "ETH-USD" if i % 5 == 0 else "BTC-USD"
            side = Side.SELL if i % 2 else Side.BUY
            await uow.orders.add(make_order(100 + i, market=market, side=side))
            await uow.commit()  # distinct created_at per order
    seen: list[int] = []
    cursor = None
    async with UnitOfWork(clean_db) as uow:
        while True:
            page = await uow.orders.search(OrderFilter(market="BTC-USD"), limit=7, cursor=cursor)
            if not page:
                break
            seen += [o.client_id for o in page]
            cursor = Cursor(page[-1].created_at, page[-1].id)  # type: ignore[arg-type]
        sells = await uow.orders.search(OrderFilter(side=Side.SELL, market="ETH-USD"), limit=50)
    expected = [100 + i for i in reversed(range(25)) if i % 5 != 0]
    assert seen == expected
    assert [o.client_id for o in sells] == [115, 105]


async def test_a_tx_is_stored_only_while_the_order_keeps_its_status(rolled_back_db: Any) -> None:
    """The write-ahead of a stateful tx: a cancel-all that took the order first wins."""
    kept, taken = make_order(31), make_order(32)
    async with UnitOfWork(rolled_back_db) as uow:
        for o in (kept, taken):
            await uow.orders.add(o)
        await uow.commit()
    async with UnitOfWork(rolled_back_db) as uow:
        moved = await uow.orders.get_for_update(taken.id)
        await uow.orders.transition(moved, OrderStatus.CANCEL_REQUESTED, reason="cancel-all")
        await uow.commit()
    async with UnitOfWork(rolled_back_db) as uow:
        assert await uow.orders.store_signed(kept, b"tx-31", "AA" * 32)
        assert not await uow.orders.store_signed(taken, b"tx-32", "BB" * 32)  # still PENDING here
        await uow.commit()
    async with UnitOfWork(rolled_back_db) as uow:
        assert (await uow.orders.get(kept.id)).signed_tx == b"tx-31"
        assert (await uow.orders.get(taken.id)).signed_tx is None


async def test_non_final_orders_page_by_creation_without_a_cap(rolled_back_db: Any) -> None:
    async with UnitOfWork(rolled_back_db) as uow:
        for i in range(25):
            await uow.orders.add(make_order(100 + i))
        await uow.commit()
    seen: list[uuid.UUID] = []
    after = None
    async with UnitOfWork(rolled_back_db) as uow:
        while True:
            page = await uow.orders.non_final(limit=10, after=after)
            seen += [o.id for o in page]
            if len(page) < 10:
                break
            assert page[-1].created_at is not None
            after = (page[-1].created_at, page[-1].id)
    assert len(seen) == len(set(seen)) == 25
