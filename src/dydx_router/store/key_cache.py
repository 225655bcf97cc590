"""API-key look-ups, cached for a second per key so that an authenticated request costs no
database round trip. A revocation clears the cache (`clear`) of the replica that made it at once
and of every other replica on PostgreSQL's notification (``store/notify.py``).

Look-ups of one key that miss while its look-up is in flight wait for that one: when an entry
expires under load every request of the key in the next round trip missed, each with its own
pooled connection and query (tens a second per key at 64 clients)."""

from __future__ import annotations

import asyncio
import time

from dydx_router.domain.access import ApiKey, hash_key
from dydx_router.service.ports import DatabaseUnavailable
from dydx_router.store.api_keys import ApiKeyRepository
from dydx_router.store.uow import DEFAULT_ACQUIRE_TIMEOUT_S

CACHE_TTL_S = 1.0


class KeyCache:
    def __init__(self, acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT_S) -> None:
        self._entries: dict[bytes, tuple[float, ApiKey | None]] = {}
        self._in_flight: dict[bytes, asyncio.Future[ApiKey | None]] = {}
        # How long a look-up waits for a pooled connection (DYDX_ROUTER_DB_TIMEOUT_S).
        self.acquire_timeout = acquire_timeout

    async def lookup(self, pool: object, key: str) -> ApiKey | None:
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is not None and now - hit[0] < CACHE_TTL_S:
            return hit[1]
        pending = self._in_flight.get(digest)
        if pending is not None:
            await asyncio.wait((pending,))
            if not pending.cancelled():
                return pending.result()  # or its error: the same database answered
            return await self.lookup(pool, key)  # that request went away: ask again
        future: asyncio.Future[ApiKey | None] = asyncio.get_running_loop().create_future()
        self._in_flight[digest] = future
        try:
            found = await self._load(pool, key, digest, now)
        except Exception as e:
            future.set_exception(e)
            future.exception()  # retrieved: only the waiters, if any, need it
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(found)
            return found
        finally:
            del self._in_flight[digest]

    async def _load(self, pool: object, key: str, digest: bytes, now: float) -> ApiKey | None:
        try:
            conn = await pool.acquire(timeout=self.acquire_timeout)  # type: ignore[attr-defined]
        except TimeoutError as e:
            # Every connection busy (or the server slow to accept): 503 database_unavailable,
            # as a unit of work answers, rather than a request that waits forever.
            raise DatabaseUnavailable(
                f"no database connection within {self.acquire_timeout:g} s"
            ) from e
        try:
            found = await ApiKeyRepository(conn).authenticate(key)
        finally:
            await pool.release(conn)  # type: ignore[attr-defined]
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[digest] = (now, found)
        return found

    def cached(self, key: str) -> bool:
        """Whether ``key`` is known good (a cached failed look-up does not count: an address
        over its auth-failure allowance must not keep guessing with one repeated key)."""
        hit = self._entries.get(hash_key(key))
        return hit is not None and hit[1] is not None and time.monotonic() - hit[0] < CACHE_TTL_S

    def clear(self) -> None:
        """Forget every look-up (a key was revoked here or on another replica)."""
        self._entries.clear()
