"""Leases in PostgreSQL for several replicas on one database (docs/scaling.md).

* ``WorkerLeases``: named leases that expire (judged by the database's clock). A holder renews
  well within the time to live; a dead holder's lease is free once it expires, and a replica
  that shuts down releases its leases at once and notifies the others, which take them over
  without waiting for their next poll. ``token`` grows by one each time a lease changes hands.
* ``PgSequenceLock``: one writer of an address's account sequence at a time, across replicas.
  The holder keeps the row of ``sequence_leases`` locked (``FOR UPDATE``) while it signs and
  broadcasts one stateful tx, then writes back the next sequence in the same transaction. A
  replica that dies mid-send (even SIGKILL) closes its connection, PostgreSQL rolls its
  transaction back and the next replica gets the row at once; a holder that hangs loses it to
  ``idle_in_transaction_session_timeout``. The chain's own check (sdk/32 "expected N") remains
  the last fence: a stale sequence is refused, never executed twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import structlog

from dydx_router.service.ports import DatabaseUnavailable
from dydx_router.store import notify

log = structlog.get_logger(__name__)

TOPIC_LEASES = "leases"

_ACQUIRE = """
INSERT INTO leases AS l (name, holder, token, expires_at, acquired_at)
VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3), clock_timestamp())
ON CONFLICT (name) DO UPDATE
   SET holder = excluded.holder,
       token = CASE WHEN l.holder IS NOT DISTINCT FROM excluded.holder THEN l.token
                    ELSE l.token + 1 END,
       acquired_at = CASE WHEN l.holder IS NOT DISTINCT FROM excluded.holder THEN l.acquired_at
                          ELSE clock_timestamp() END,
       expires_at = excluded.expires_at
 WHERE l.holder IS NOT DISTINCT FROM excluded.holder
    OR l.holder IS NULL
    OR l.expires_at < clock_timestamp()
RETURNING token
"""

_RENEW = """
UPDATE leases SET expires_at = clock_timestamp() + make_interval(secs => $4)
 WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at >= clock_timestamp()
RETURNING token
"""


class WorkerLeases:
    """``workers.lease.Leases`` over the ``leases`` table."""

    def __init__(self, pool: Any, *, timeout_s: float = 5.0) -> None:
        self._pool = pool
        self._timeout = timeout_s

    async def acquire(self, name: str, holder: str, ttl_s: float) -> int | None:
        """The fencing token if ``holder`` holds ``name`` now (taken or renewed), else None."""
        async with self._pool.acquire(timeout=self._timeout) as conn:
            token = await conn.fetchval(_ACQUIRE, name, holder, ttl_s, timeout=self._timeout)
        return int(token) if token is not None else None

    async def renew(self, name: str, holder: str, token: int, ttl_s: float) -> bool:
        """Extend a lease still held under ``token``; False once it was lost."""
        async with self._pool.acquire(timeout=self._timeout) as conn:
            got = await conn.fetchval(_RENEW, name, holder, token, ttl_s, timeout=self._timeout)
        return got is not None

    async def release(self, name: str, holder: str) -> None:
        """Give ``name`` up now and wake the other replicas (their listener's ``leases``)."""
        async with self._pool.acquire(timeout=self._timeout) as conn, conn.transaction():
            done = await conn.execute(
                "UPDATE leases SET holder = NULL, expires_at = clock_timestamp() "
                "WHERE name = $1 AND holder = $2",
                name,
                holder,
            )
            if done != "UPDATE 0":
                await notify.notify(conn, TOPIC_LEASES)

    async def others_live(self, prefix: str, holder: str) -> int:
        """How many live leases named ``prefix...`` other holders have."""
        async with self._pool.acquire(timeout=self._timeout) as conn:
            n = await conn.fetchval(
                "SELECT count(*) FROM leases WHERE name LIKE $1 || '%' AND holder <> $2 "
                "AND expires_at >= clock_timestamp()",
                prefix,
                holder,
                timeout=self._timeout,
            )
        return int(n)

    async def holders(self) -> dict[str, tuple[str | None, int, bool]]:
        """Every lease: (holder, token, live) (for tests, the CLI and the docs' figures)."""
        async with self._pool.acquire(timeout=self._timeout) as conn:
            rows = await conn.fetch(
                "SELECT name, holder, token, expires_at >= clock_timestamp() AS live FROM leases"
            )
        return {r["name"]: (r["holder"], int(r["token"]), bool(r["live"])) for r in rows}


class _Hold:
    def __init__(self, token: int, next_sequence: int | None) -> None:
        self.token = token
        self.next_sequence = next_sequence


class PgSequenceLock:
    """``chain.sequencer.SequenceLock`` over ``sequence_leases`` (see the module docstring)."""

    def __init__(
        self, pool: Any, holder: str, *, lock_timeout_s: float = 30.0, idle_timeout_s: float = 60.0
    ) -> None:
        self._pool = pool
        self._holder = holder
        self._lock_timeout_ms = int(lock_timeout_s * 1000)
        self._idle_timeout_ms = int(idle_timeout_s * 1000)

    @contextlib.asynccontextmanager
    async def hold(self, address: str) -> AsyncIterator[_Hold]:
        try:
            async with self._hold(address) as hold:
                yield hold
        except asyncpg.exceptions.LockNotAvailableError as e:
            # Another replica held the account sequence past lock_timeout: 503 with Retry-After;
            # the order stays PENDING for the reconciler (docs/scaling.md).
            raise DatabaseUnavailable(
                "the account sequence is held by another replica; retry shortly"
            ) from e

    @contextlib.asynccontextmanager
    async def _hold(self, address: str) -> AsyncIterator[_Hold]:
        acquire = self._pool.acquire(timeout=self._lock_timeout_ms / 1000)
        async with acquire as conn, conn.transaction():
            # Both only for this transaction (the pool's connections keep no session state).
            await conn.execute(
                f"SET LOCAL lock_timeout = {self._lock_timeout_ms}; "
                f"SET LOCAL idle_in_transaction_session_timeout = {self._idle_timeout_ms}"
            )
            await conn.execute(
                "INSERT INTO sequence_leases (address) VALUES ($1) ON CONFLICT DO NOTHING",
                address,
            )
            row = await conn.fetchrow(
                "UPDATE sequence_leases SET token = token + 1, holder = $2, "
                "updated_at = clock_timestamp() WHERE address = $1 "
                "RETURNING token, next_sequence",
                address,
                self._holder,
            )
            assert row is not None
            hold = _Hold(int(row["token"]), row["next_sequence"])
            yield hold
            await conn.execute(
                "UPDATE sequence_leases SET next_sequence = $2 WHERE address = $1",
                address,
                hold.next_sequence,
            )
