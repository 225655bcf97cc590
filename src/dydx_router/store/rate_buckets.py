"""API rate limits shared by every replica: token buckets in PostgreSQL (docs/scaling.md).

One statement per request takes a token or refuses, atomically (the row lock of the bucket), with
the database's clock, so request N+1 of a key is refused whichever replica it reaches. If the
database cannot answer within ``timeout_s`` the replica's own in-memory bucket decides, so a
database hiccup slows nothing down (and limits stay per replica meanwhile).

Requests of one key that arrive while its statement is in flight wait for it and then take their
tokens together, all or none, in one statement (a group take, like the placements' group commit
in ``store/batch.py``): one round trip and one row lock per group instead of one per request,
whose queue on the bucket's row lock serialised every trade request of a key. A group the bucket
cannot grant whole is asked about one request at a time, as before, so the count stays exact.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Hashable
from typing import Any

import structlog

from dydx_router.service.ratelimit import Rate, RateLimiter

log = structlog.get_logger(__name__)

# Takes $4 tokens, all or none (a group never exceeds the burst, so a new row can hold them). The
# refill is computed from the row's last update to the database's clock; a refusal writes nothing.
_TAKE = """
INSERT INTO rate_buckets AS b (key, tokens, updated_at)
VALUES ($1, $3::float8 - $4::float8, clock_timestamp())
ON CONFLICT (key) DO UPDATE
   SET tokens = LEAST($3::float8, b.tokens
           + EXTRACT(EPOCH FROM excluded.updated_at - b.updated_at)::float8 * $2::float8)
           - $4::float8,
       updated_at = excluded.updated_at
 WHERE LEAST($3::float8, b.tokens
           + EXTRACT(EPOCH FROM excluded.updated_at - b.updated_at)::float8 * $2::float8)
       >= $4::float8
RETURNING tokens
"""

_LEFT = """
SELECT LEAST($2::float8, tokens
       + EXTRACT(EPOCH FROM clock_timestamp() - updated_at)::float8 * $3::float8)
  FROM rate_buckets WHERE key = $1
"""


class SharedRateLimiter(RateLimiter):
    """``RateLimiter`` whose per-key classes (not the per-address failed-auth class, which
    guards the database itself) are counted in ``rate_buckets``."""

    def __init__(
        self, pool: Any, rates: dict[str, Rate], *, local_only: frozenset[str], timeout_s: float
    ) -> None:
        super().__init__(rates)
        self._pool = pool
        self._local_only = local_only
        self._timeout = timeout_s
        # What the shared bucket held after this replica's last take (GET /v1/account).
        self._seen: dict[tuple[Hashable, str], tuple[float, float]] = {}
        # Per bucket key: the requests waiting for the statement in flight (group take).
        self._waiting: dict[str, list[asyncio.Future[_Outcome]]] = {}
        self._drains: set[asyncio.Task[None]] = set()

    async def acquire(self, who: Hashable, route_class: str) -> float:
        rate = self._rates.get(route_class)
        if rate is None or route_class in self._local_only:
            return self.take(who, route_class)
        key = f"{route_class}:{who}"
        waiting = self._waiting.get(key)
        if waiting is None:
            # Nothing in flight for this key: ask at once, alone.
            self._waiting[key] = []
            try:
                return await self._acquire_one(key, who, route_class, rate)
            finally:
                self._drain_after(key, who, route_class, rate)
        future: asyncio.Future[_Outcome] = asyncio.get_running_loop().create_future()
        waiting.append(future)
        outcome = await future
        if outcome is _GRANTED:
            return 0.0
        if outcome is _UNAVAILABLE:
            return self.take(who, route_class)
        return await self._acquire_one(key, who, route_class, rate)

    def _drain_after(self, key: str, who: Hashable, route_class: str, rate: Rate) -> None:
        if not self._waiting.get(key):
            self._waiting.pop(key, None)
            return
        task = asyncio.get_running_loop().create_task(self._drain(key, who, route_class, rate))
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def _drain(self, key: str, who: Hashable, route_class: str, rate: Rate) -> None:
        """Take the tokens of the requests that queued meanwhile, a group at a time."""
        waiting = self._waiting[key]
        try:
            while waiting:
                group = [f for f in waiting[: max(1, rate.burst)] if not f.done()]
                del waiting[: max(1, rate.burst)]
                if not group:
                    continue
                outcome = await self._take_group(key, who, route_class, rate, len(group))
                for future in group:
                    if not future.done():
                        future.set_result(outcome)
        finally:
            self._waiting.pop(key, None)
            for future in waiting:  # only if cancelled: each asks alone
                if not future.done():
                    future.set_result(_SHORT)

    async def _take_group(
        self, key: str, who: Hashable, route_class: str, rate: Rate, n: int
    ) -> _Outcome:
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                left = await conn.fetchval(
                    _TAKE, key, rate.per_second, rate.burst, float(n), timeout=self._timeout
                )
        except (OSError, TimeoutError, Exception) as e:
            log.warning("shared_rate_limit_unavailable", error=type(e).__name__)
            return _UNAVAILABLE
        if left is None:
            return _SHORT
        self._remember(who, route_class, float(left))
        return _GRANTED

    async def _acquire_one(self, key: str, who: Hashable, route_class: str, rate: Rate) -> float:
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                left = await conn.fetchval(
                    _TAKE, key, rate.per_second, rate.burst, 1.0, timeout=self._timeout
                )
                if left is not None:
                    self._remember(who, route_class, float(left))
                    return 0.0
                available = await conn.fetchval(
                    _LEFT, key, rate.burst, rate.per_second, timeout=self._timeout
                )
        except (OSError, TimeoutError, Exception) as e:
            log.warning("shared_rate_limit_unavailable", error=type(e).__name__)
            return self.take(who, route_class)
        self._remember(who, route_class, float(available or 0))
        if rate.per_second <= 0:
            return math.inf
        return max(1e-3, (1 - float(available or 0)) / rate.per_second)

    def _remember(self, who: Hashable, route_class: str, left: float) -> None:
        if len(self._seen) >= self.MAX_BUCKETS:
            self._seen.clear()
        self._seen[(who, route_class)] = (left, time.monotonic())

    def usage(self, who: Hashable) -> dict[str, tuple[Rate, float]]:
        """As of this replica's last look at the shared buckets, refilled since."""
        out = super().usage(who)
        now = time.monotonic()
        for route_class, (rate, left) in out.items():
            seen = self._seen.get((who, route_class))
            if seen is not None and route_class not in self._local_only:
                left = min(float(rate.burst), seen[0] + (now - seen[1]) * rate.per_second)
            out[route_class] = (rate, left)
        return out


class _Outcome:
    __slots__ = ()


# A group's outcome: every request granted; the bucket short of the group's tokens (each asks
# alone); the database unavailable (each takes from the replica's own bucket).
_GRANTED, _SHORT, _UNAVAILABLE = _Outcome(), _Outcome(), _Outcome()
