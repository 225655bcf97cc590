"""The chain's block-rate counts of an address shared by every replica (``service/throttle.py``).

An admission takes a transaction-scoped advisory lock on the address, reads the counts of the
window, lets the throttle decide and count, and writes back what changed: replicas admit one at a
time per address, so together they never exceed the chain's per-account budget
(``protocol/x/clob/rate_limit/``). Rows older than the longest window are deleted as it goes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

Counts = dict[str, dict[int, int]]


class PgChainBudget:
    def __init__(self, pool: Any, address: str, *, timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._address = address
        self._timeout = timeout_s

    @contextlib.asynccontextmanager
    async def locked(self, floor: int) -> AsyncIterator[Counts]:
        acquire = self._pool.acquire(timeout=self._timeout)
        async with acquire as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('chain_budget:' || $1, 0))",
                self._address,
                timeout=self._timeout,
            )
            await conn.execute(
                "DELETE FROM chain_rate_counts WHERE address = $1 AND height <= $2",
                self._address,
                floor,
            )
            rows = await conn.fetch(
                "SELECT bucket, height, count FROM chain_rate_counts WHERE address = $1",
                self._address,
            )
            counts: Counts = {}
            for r in rows:
                counts.setdefault(r["bucket"], {})[int(r["height"])] = int(r["count"])
            before = {(b, h): c for b, per in counts.items() for h, c in per.items()}
            yield counts
            changed = [
                (self._address, b, h, c)
                for b, per in counts.items()
                for h, c in per.items()
                if before.get((b, h)) != c
            ]
            if changed:
                await conn.executemany(
                    "INSERT INTO chain_rate_counts (address, bucket, height, count) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (address, bucket, height) "
                    "DO UPDATE SET count = excluded.count",
                    changed,
                )
