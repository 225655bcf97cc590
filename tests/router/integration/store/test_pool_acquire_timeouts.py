"""Issue 13, item 12: every acquire from the pool has a timeout. The API-key look-up waited for a
pooled connection with none: with the pool exhausted (cancels waiting on a slow node held their
connections) every authenticated request hung. Now it is a 503 database_unavailable."""

from __future__ import annotations

import asyncio
import time

import pytest

from dydx_router.service.ports import DatabaseUnavailable
from dydx_router.store.database import create_pool
from dydx_router.store.key_cache import KeyCache

pytestmark = pytest.mark.integration


async def test_the_key_lookup_gives_up_on_an_exhausted_pool(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        cache = KeyCache()
        cache.acquire_timeout = 0.3
        held = await pool.acquire()  # every connection busy
        started = time.monotonic()
        try:
            with pytest.raises(DatabaseUnavailable) as unavailable:
                async with asyncio.timeout(5):
                    await cache.lookup(pool, "dxr_not_a_key")
        finally:
            await pool.release(held)
        waited = time.monotonic() - started
        assert 0.25 <= waited < 2, waited
        assert unavailable.value.code == "database_unavailable"
        # With a connection free again, the look-up works (and releases it).
        assert await cache.lookup(pool, "dxr_not_a_key") is None
        assert pool.get_idle_size() == 1
    finally:
        await pool.close()
