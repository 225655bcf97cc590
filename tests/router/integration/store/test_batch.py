"""Group-committed placement writes on a real PostgreSQL: concurrent writes share statements, each
is durable when it returns, and a bad row fails alone."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from tests.router.integration.store.test_orders_repository import make_order

from dydx_router.domain.errors import ConcurrentUpdate, DuplicateOrder
from dydx_router.domain.order import ChainError, OrderStatus
from dydx_router.service.ports import DatabaseUnavailable
from dydx_router.store.batch import PlacementWriter
from dydx_router.store.orders import ClientIds
from dydx_router.store.uow import UnitOfWork

pytestmark = pytest.mark.integration


class CountingPool:
    """The pool, counting the statements that reach the server."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.statements = 0

    def acquire(self, **kwargs: Any) -> Any:
        outer = self

        class Counted:
            def __init__(self, conn: Any) -> None:
                self._conn = conn

            async def fetch(self, *args: Any) -> Any:
                outer.statements += 1
                return await self._conn.fetch(*args)

        class Ctx:
            async def __aenter__(self) -> Any:
                self._cm = outer._pool.acquire(**kwargs)
                return Counted(await self._cm.__aenter__())

            async def __aexit__(self, *exc: Any) -> None:
                await self._cm.__aexit__(*exc)

        return Ctx()


async def test_concurrent_inserts_share_statements_and_are_durable(clean_db: Any) -> None:
    pool = CountingPool(clean_db)
    writer = PlacementWriter(pool, ClientIds())
    orders = [make_order(1000 + i, order_flags=0, good_til_block=50) for i in range(50)]

    async def place(o: Any) -> bool:
        await writer.insert(o, reason="accepted by the router", height=10)
        # Durable when insert returns: another connection sees the row and its history.
        async with clean_db.acquire() as conn:
            row = await conn.fetchrow("SELECT status FROM orders WHERE id = $1", o.id)
            history = await conn.fetchval(
                "SELECT count(*) FROM order_status_history WHERE order_id = $1", o.id
            )
        return row is not None and row["status"] == "PENDING" and history == 1

    assert all(await asyncio.gather(*(place(o) for o in orders)))
    assert pool.statements < len(orders) / 2, pool.statements
    assert all(o.created_at is not None for o in orders)
    async with UnitOfWork(clean_db) as uow:
        got = await uow.orders.get(orders[7].id)
    assert got.size == orders[7].size and got.quantums == orders[7].quantums
    assert got.signed_tx == orders[7].signed_tx and got.good_til_block == 50
    assert [(h.from_status, h.to_status, h.reason, h.chain_height) for h in got.history] == [
        (None, OrderStatus.PENDING, "accepted by the router", 10)
    ]


async def test_a_duplicate_fails_alone_in_its_batch(clean_db: Any) -> None:
    writer = PlacementWriter(clean_db, ClientIds())
    first = make_order(5, idempotency_key="k-1")
    await writer.insert(first, reason="r", height=None)
    twin = make_order(6, idempotency_key="k-1")  # same (api key, idempotency key)
    same_chain_id = make_order(5)  # same chain OrderId as `first`
    fine = [make_order(100 + i) for i in range(5)]
    results = await asyncio.gather(
        *(writer.insert(o, reason="r", height=None) for o in [twin, *fine, same_chain_id]),
        return_exceptions=True,
    )
    assert isinstance(results[0], DuplicateOrder) and isinstance(results[-1], DuplicateOrder)
    assert results[1:-1] == [None] * 5
    async with clean_db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 6
        assert await conn.fetchval("SELECT count(*) FROM order_status_history") == 6


async def test_outcomes_apply_conditionally_and_keep_facts(clean_db: Any) -> None:
    writer = PlacementWriter(clean_db, ClientIds())
    orders = [make_order(200 + i, order_flags=0) for i in range(4)]
    for o in orders:
        await writer.insert(o, reason="r", height=1)
    # Another writer moves orders[3] first: its outcome must not overwrite that.
    async with UnitOfWork(clean_db) as uow:
        other = await uow.orders.get_for_update(orders[3].id)
        await uow.orders.transition(other, OrderStatus.UNKNOWN, reason="reconciler")
        await uow.commit()
    err = ChainError("clob", 2003, "post-only would cross")
    results = await asyncio.gather(
        writer.record(orders[0], OrderStatus.SUBMITTED, reason="ok", height=2, tx_hash="AB" * 32),
        writer.record(
            orders[1],
            OrderStatus.REJECTED,
            reason="checktx rejected",
            height=2,
            error_codespace=err.codespace,
            error_code=err.code,
            error_log=err.log,
        ),
        writer.record(orders[2], OrderStatus.UNKNOWN, reason="no answer", height=2),
        writer.record(orders[3], OrderStatus.SUBMITTED, reason="late", height=2),
        return_exceptions=True,
    )
    assert results[:3] == [None, None, None]
    assert isinstance(results[3], ConcurrentUpdate)
    assert orders[0].status is OrderStatus.SUBMITTED and orders[0].tx_hash == "AB" * 32
    assert orders[1].last_error == err
    async with UnitOfWork(clean_db) as uow:
        got = [await uow.orders.get(o.id) for o in orders]
    assert [g.status for g in got] == [
        OrderStatus.SUBMITTED,
        OrderStatus.REJECTED,
        OrderStatus.UNKNOWN,
        OrderStatus.UNKNOWN,
    ]
    assert got[0].tx_hash == "AB" * 32
    assert got[1].last_error == err and got[0].last_error is None
    assert got[2].signed_tx == orders[2].signed_tx  # a NULL fact keeps the stored value
    assert [h.to_status for h in got[3].history] == [OrderStatus.PENDING, OrderStatus.UNKNOWN]
    assert [(h.from_status, h.to_status, h.chain_height) for h in got[1].history][-1] == (
        OrderStatus.PENDING,
        OrderStatus.REJECTED,
        2,
    )


async def test_client_ids_are_unique_across_concurrent_refills(clean_db: Any) -> None:
    ids_a, ids_b = ClientIds(block=8), ClientIds(block=8)  # two processes
    writer_a = PlacementWriter(clean_db, ids_a)
    writer_b = PlacementWriter(clean_db, ids_b)
    got = await asyncio.gather(
        *(w.next_client_id() for _ in range(40) for w in (writer_a, writer_b))
    )
    assert len(set(got)) == len(got) == 80


async def test_a_lost_connection_fails_the_batch_as_unavailable(clean_db: Any) -> None:
    class Broken:
        def acquire(self, **kwargs: Any) -> Any:
            raise asyncpg.exceptions.ConnectionDoesNotExistError("gone")

    writer = PlacementWriter(Broken(), ClientIds())
    with pytest.raises(DatabaseUnavailable):
        await writer.insert(make_order(1, size=Decimal("1")), reason="r", height=None)


async def test_a_row_the_database_refuses_fails_alone(clean_db: Any) -> None:
    writer = PlacementWriter(clean_db, ClientIds())
    bad = make_order(300, filled_size=Decimal("5"))  # more filled than its size: a CHECK
    good = [make_order(301 + i) for i in range(4)]
    results = await asyncio.gather(
        *(writer.insert(o, reason="r", height=None) for o in [*good[:2], bad, *good[2:]]),
        return_exceptions=True,
    )
    assert isinstance(results[2], asyncpg.CheckViolationError)
    assert results[:2] == [None, None] and results[3:] == [None, None]
    async with clean_db.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 4


async def test_two_writes_of_one_order_in_a_batch_apply_once(clean_db: Any) -> None:
    writer = PlacementWriter(clean_db, ClientIds())
    order = make_order(400, order_flags=0)
    await writer.insert(order, reason="r", height=1)
    await writer.record(order, OrderStatus.SUBMITTED, reason="ok", height=1)
    stream_view, expiry_view = replace(order), replace(order)
    results = await asyncio.gather(
        writer.record(stream_view, OrderStatus.CANCELED, reason="removed", height=5),
        writer.record(expiry_view, OrderStatus.EXPIRED, reason="expired", height=5),
        return_exceptions=True,
    )
    assert results[0] is None and isinstance(results[1], ConcurrentUpdate)
    async with UnitOfWork(clean_db) as uow:
        got = await uow.orders.get(order.id)
    assert got.status is OrderStatus.CANCELED
    assert [h.to_status for h in got.history] == [
        OrderStatus.PENDING,
        OrderStatus.SUBMITTED,
        OrderStatus.CANCELED,
    ]


async def test_a_fill_is_written_only_over_the_filled_size_it_was_computed_on(
    clean_db: Any,
) -> None:
    writer = PlacementWriter(clean_db, ClientIds())
    orders = [make_order(300 + i, order_flags=0) for i in range(2)]
    for o in orders:
        await writer.insert(o, reason="r", height=1)
        await writer.record(o, OrderStatus.SUBMITTED, reason="ok", height=1)
    # Another writer records a partial fill of orders[1] under the row lock first.
    async with UnitOfWork(clean_db) as uow:
        other = await uow.orders.get_for_update(orders[1].id)
        await uow.orders.transition(
            other,
            OrderStatus.PARTIALLY_FILLED,
            reason="locked",
            filled_size=Decimal("0.001"),
            average_fill_price=Decimal("100"),
        )
        await uow.commit()
    # orders[1]'s snapshot is stale on its filled size only: back to SUBMITTED with none filled.
    async with clean_db.acquire() as conn:
        await conn.execute("UPDATE orders SET status = 'SUBMITTED' WHERE id = $1", orders[1].id)
    results = await asyncio.gather(
        *(
            writer.record(
                o,
                OrderStatus.FILLED,
                reason="indexer: FILLED",
                height=3,
                filled_size=o.size,
                average_fill_price=Decimal("65000.5"),
            )
            for o in orders
        ),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], ConcurrentUpdate)
    assert orders[0].filled_size == orders[0].size
    async with UnitOfWork(clean_db) as uow:
        got = [await uow.orders.get(o.id) for o in orders]
    assert got[0].status is OrderStatus.FILLED and got[0].filled_size == orders[0].size
    assert got[0].average_fill_price == Decimal("65000.5")
    assert got[1].filled_size == Decimal("0.001") and got[1].average_fill_price == Decimal("100")
