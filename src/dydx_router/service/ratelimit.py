"""Inbound rate limits: a token bucket per API key and route class, in memory (the API's
``api/ratelimit.py`` answers a refusal; ``store/rate_buckets.py`` shares the buckets).

Classes are the scopes routes require: ``read`` (GET), ``trade`` (place, cancel, close) and
``admin``. A bucket holds ``burst`` tokens and refills at ``rate`` per second; a request takes
one token or is refused with 429 ``rate_limited`` and a ``Retry-After`` (whole seconds, rounded
up). Buckets live in memory here; ``store/rate_buckets.py`` keeps the per-key ones in PostgreSQL,
shared by every replica (``acquire``). The chain's own limits are guarded separately
(``service/throttle.py``).

Failed authentications are limited per client address too, so guessing keys cannot turn into a
database query per request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: int


class TokenBucket:
    __slots__ = ("_clock", "_tokens", "_updated", "rate")

    def __init__(self, rate: Rate, clock: Callable[[], float]) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = float(rate.burst)
        self._updated = clock()

    def available(self, now: float) -> float:
        return min(
            float(self.rate.burst), self._tokens + (now - self._updated) * self.rate.per_second
        )

    def take(self) -> float:
        """Take a token: 0.0 if granted, else the seconds until one is available."""
        now = self._clock()
        self._tokens = min(
            float(self.rate.burst), self._tokens + (now - self._updated) * self.rate.per_second
        )
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        if self.rate.per_second <= 0:
            return math.inf
        return (1 - self._tokens) / self.rate.per_second


class RateLimiter:
    """Buckets by (who, class); ``take`` answers the seconds to wait (0.0: go ahead).

    Each route class has a table of its own, of at most ``MAX_BUCKETS`` buckets: the
    per-address failed-authentication buckets, which anyone can create by sending bad keys from
    many addresses, can fill only their own table, never deny a key its first request."""

    MAX_BUCKETS = 100_000  # per route class

    def __init__(
        self, rates: dict[str, Rate], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rates = rates
        self._clock = clock
        self._tables: dict[str, dict[Hashable, TokenBucket]] = {c: {} for c in rates}
        self._last_eviction: dict[str, float] = {}

    def take(self, who: Hashable, route_class: str) -> float:
        rate = self._rates.get(route_class)
        if rate is None:
            return 0.0
        table = self._tables[route_class]
        bucket = table.get(who)
        if bucket is None:
            if len(table) >= self.MAX_BUCKETS and not self._evict(route_class):
                # Every bucket of the class is in use (e.g. guessing from more addresses than
                # the table holds): refuse rather than forget one, which would hand it a fresh
                # burst.
                return 1.0 / rate.per_second if rate.per_second > 0 else math.inf
            bucket = table[who] = TokenBucket(rate, self._clock)
        return bucket.take()

    async def acquire(self, who: Hashable, route_class: str) -> float:
        """``take``, where a shared store may answer (``store/rate_buckets.py``)."""
        return self.take(who, route_class)

    def _bucket(self, who: Hashable, route_class: str) -> TokenBucket | None:
        table = self._tables.get(route_class)
        return None if table is None else table.get(who)

    def _evict(self, route_class: str) -> bool:
        """Forget the class's buckets that have refilled to their burst: a fresh bucket is the
        same, so forgetting them grants nothing. Exhausted buckets are kept. At most one scan
        per class and second, so a table full of exhausted buckets does not cost a scan per
        request."""
        now = self._clock()
        if now - self._last_eviction.get(route_class, -math.inf) < 1.0:
            return False
        self._last_eviction[route_class] = now
        table = self._tables[route_class]
        full = [
            who
            for who, b in table.items()
            if b._tokens + (now - b._updated) * b.rate.per_second >= b.rate.burst
        ]
        for who in full:
            del table[who]
        return len(table) < self.MAX_BUCKETS

    def usage(self, who: Hashable) -> dict[str, tuple[Rate, float]]:
        """Per route class: its rate and the tokens ``who`` has left now (GET /v1/account)."""
        out: dict[str, tuple[Rate, float]] = {}
        now = self._clock()
        for route_class, rate in self._rates.items():
            bucket = self._bucket(who, route_class)
            left = float(rate.burst)
            if bucket is not None:
                left = bucket.available(now)
            out[route_class] = (rate, left)
        return out

    def would_wait(self, who: Hashable, route_class: str) -> bool:
        """Whether ``who`` has no token left, without taking one."""
        bucket = self._bucket(who, route_class)
        if bucket is None:
            return False
        now = self._clock()
        tokens = bucket._tokens + (now - bucket._updated) * bucket.rate.per_second
        return tokens < 1
