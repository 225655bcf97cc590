"""The API-key cache on a real PostgreSQL: concurrent look-ups of one key that miss share one
query (an expired entry under load no longer costs a connection and a query per request), and a
shared look-up's failure or cancellation reaches the waiters as their own would."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dydx_router.store.api_keys import ApiKeyRepository
from dydx_router.store.key_cache import KeyCache

pytestmark = pytest.mark.integration


class _CountingPool:
    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self.acquired = 0

    async def acquire(self, **kwargs: Any) -> Any:
        self.acquired += 1
        return await self._pool.acquire(**kwargs)

    async def release(self, conn: Any) -> None:
        await self._pool.release(conn)


async def test_concurrent_misses_of_a_key_share_one_lookup(clean_db: Any) -> None:
    async with clean_db.acquire() as conn:
        key, plain = await ApiKeyRepository(conn).create("bench", {"trade"})
    pool = _CountingPool(clean_db)
    cache = KeyCache()
    found = await asyncio.gather(*(cache.lookup(pool, plain) for _ in range(32)))
    assert [k.id if k else None for k in found] == [key.id] * 32
    assert pool.acquired == 1
    assert await cache.lookup(pool, "dxr_unknown") is None
    assert pool.acquired == 2


class _FailingPool:
    def __init__(self, pool: Any, gate: asyncio.Event) -> None:
        self._pool = pool
        self.gate = gate
        self.acquired = 0

    async def acquire(self, **kwargs: Any) -> Any:
        self.acquired += 1
        if self.acquired == 1:
            await self.gate.wait()
            raise ConnectionResetError("gone")
        return await self._pool.acquire(**kwargs)

    async def release(self, conn: Any) -> None:
        await self._pool.release(conn)


async def test_a_shared_lookups_error_and_cancellation_reach_its_waiters(clean_db: Any) -> None:
    async with clean_db.acquire() as conn:
        key, plain = await ApiKeyRepository(conn).create("bench", {"trade"})
    gate = asyncio.Event()
    pool = _FailingPool(clean_db, gate)
    cache = KeyCache()
    first = asyncio.create_task(cache.lookup(pool, plain))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.lookup(pool, plain))
    await asyncio.sleep(0)
    gate.set()
    for task in (first, waiter):
        with pytest.raises(ConnectionResetError):
            await task
    assert pool.acquired == 1
    # The leader's request goes away: the waiter asks again by itself and gets the key.
    gate.clear()
    pool.acquired = 0
    first = asyncio.create_task(cache.lookup(pool, plain))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.lookup(pool, plain))
    await asyncio.sleep(0)
    first.cancel()
    found = await waiter
    assert found is not None and found.id == key.id
