"""The test fixtures' isolation (tests/fixtures/db.py): a rolled-back test's commits are real
to the code under test and gone for everyone once it ends; emptying tables skips the TRUNCATE
when there is nothing to empty and still empties what is there."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fixtures.db import empty_tables, rolled_back
from tests.router.integration.store.test_orders_repository import make_order

from dydx_router.domain.errors import OrderNotFound
from dydx_router.store.uow import UnitOfWork

pytestmark = pytest.mark.integration


async def _count(pool: Any, table: str) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return n


async def test_a_rolled_back_test_commits_for_itself_and_leaves_nothing(db_pool: Any) -> None:
    order = make_order(41)
    async with rolled_back(db_pool) as pool:
        async with UnitOfWork(pool) as uow:
            await uow.orders.add(order)
            await uow.commit()
        async with UnitOfWork(pool) as uow:  # a later unit of work sees the commit
            assert (await uow.orders.get(order.id)).client_id == 41
        async with UnitOfWork(pool) as uow:  # and a rolled-back one leaves it as it was
            await uow.orders.add(make_order(42))
        assert await _count(pool, "orders") == 1
        assert await _count(db_pool, "orders") == 0  # another connection never sees it
    async with UnitOfWork(db_pool) as uow:
        with pytest.raises(OrderNotFound):
            await uow.orders.get(order.id)


async def test_emptying_tables_empties_them(db_pool: Any) -> None:
    async with UnitOfWork(db_pool) as uow:
        await uow.orders.add(make_order(43))
        await uow.commit()
    async with db_pool.acquire() as conn:
        await empty_tables(conn)
        await empty_tables(conn)  # nothing left: no TRUNCATE, no error
    assert await _count(db_pool, "orders") == 0
    assert await _count(db_pool, "order_status_history") == 0
