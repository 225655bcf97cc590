"""API rate limits shared by every replica: token buckets in PostgreSQL (docs/scaling.md).

One statement per request takes a token or refuses, atomically (the row lock of the bucket), with
the database's clock, so request N+1 of a key is refused whichever replica it reaches. If the
database cannot answer within ``timeout_s`` the replica's own in-memory bucket decides, so a
database hiccup slows nothing down (and limits stay per replica meanwhile).
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from typing import Any

import structlog

from dydx_router.service.ratelimit import Rate, RateLimiter

log = structlog.get_logger(__name__)

# The refill is computed from the row's last update to the database's clock; a refused request
# writes nothing.
_TAKE = """
INSERT INTO rate_buckets AS b (key, tokens, updated_at)
VALUES ($1, $3::float8 - 1, clock_timestamp())
ON CONFLICT (key) DO UPDATE
   SET tokens = LEAST($3::float8, b.tokens
           + EXTRACT(EPOCH FROM excluded.updated_at - b.updated_at)::float8 * $2::float8) - 1,
       updated_at = excluded.updated_at
 WHERE LEAST($3::float8, b.tokens
           + EXTRACT(EPOCH FROM excluded.updated_at - b.updated_at)::float8 * $2::float8) >= 1
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

    async def acquire(self, who: Hashable, route_class: str) -> float:
        rate = self._rates.get(route_class)
        if rate is None or route_class in self._local_only:
            return self.take(who, route_class)
        key = f"{route_class}:{who}"
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                left = await conn.fetchval(
                    _TAKE, key, rate.per_second, rate.burst, timeout=self._timeout
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
