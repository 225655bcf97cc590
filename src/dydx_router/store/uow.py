"""Unit of work: one connection and one transaction; nothing is kept unless ``commit()`` is called.

Services receive a unit-of-work factory and never open connections themselves (cosmicpython).

When PostgreSQL is down or drops the connection, every way out of a unit of work raises
:class:`~dydx_router.store.database.DatabaseUnavailable` (the transaction is rolled back by the
server when the connection goes), and the pool is told to replace its connections, so the
service recovers by itself once the server is back.
"""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any, Self

from dydx_router.service.ports import DatabaseUnavailable
from dydx_router.store.agent_limits import AgentLimitsRepository
from dydx_router.store.api_keys import ApiKeyRepository
from dydx_router.store.audit import AuditRepository
from dydx_router.store.database import is_connection_error
from dydx_router.store.events import EventRepository, FillRepository
from dydx_router.store.orders import ClientIds, OrderRepository
from dydx_router.store.risk import RiskRepository
from dydx_router.store.trading_state import TradingStateRepository

# How long a unit of work waits for a pooled connection (all busy, or the server slow to accept).
DEFAULT_ACQUIRE_TIMEOUT_S = 5.0


class UnitOfWork:
    orders: OrderRepository
    api_keys: ApiKeyRepository
    audit: AuditRepository
    risk: RiskRepository
    trading_state: TradingStateRepository
    events: EventRepository
    fills: FillRepository
    agent_limits: AgentLimitsRepository

    def __init__(
        self,
        pool: Any,
        *,
        acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT_S,
        client_ids: ClientIds | None = None,
    ) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._client_ids = client_ids
        self._conn: Any = None
        self._tx: Any = None

    async def __aenter__(self) -> Self:
        try:
            self._conn = await self._pool.acquire(timeout=self._acquire_timeout)
        except Exception as e:
            if is_connection_error(e):
                raise await self._unavailable(e, "no database connection") from e
            raise
        try:
            self._tx = self._conn.transaction()
            await self._tx.start()
        except BaseException as e:
            await self._pool.release(self._conn)
            if isinstance(e, Exception) and is_connection_error(e):
                raise await self._unavailable(e, "the database connection failed") from e
            raise
        self.orders = OrderRepository(self._conn, self._client_ids)
        self.api_keys = ApiKeyRepository(self._conn)
        self.audit = AuditRepository(self._conn)
        self.risk = RiskRepository(self._conn)
        self.trading_state = TradingStateRepository(self._conn)
        self.events = EventRepository(self._conn)
        self.fills = FillRepository(self._conn)
        self.agent_limits = AgentLimitsRepository(self._conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        broken = exc is not None and is_connection_error(exc)
        try:
            if self._tx is not None:
                if exc is not None:
                    # A failed rollback must not hide why the block ended: a cancel cut short
                    # inside asyncpg leaves the transaction "in error state", and raising that
                    # instead of CancelledError made a stopping worker look like a crashing one.
                    # The server rolls back a transaction whose connection is gone or reset
                    # (the pool resets the connection on release).
                    with contextlib.suppress(Exception):
                        await self._tx.rollback()
                else:
                    await self._tx.rollback()
        finally:
            self._tx = None
            await self._pool.release(self._conn)
        if broken and not isinstance(exc, DatabaseUnavailable):
            assert exc is not None
            raise await self._unavailable(exc, "the database connection failed") from exc

    async def commit(self, *, more: bool = True) -> None:
        """Make everything so far durable; later work in the same block starts a new transaction
        (``more=False``: none may follow, which saves the BEGIN and the ROLLBACK of an empty one,
        two round trips, on a hot path)."""
        try:
            await self._tx.commit()
        except Exception as e:
            if is_connection_error(e):
                self._tx = None  # nothing left to roll back on this connection
                raise await self._unavailable(
                    e, "the database connection failed during commit (outcome unknown)"
                ) from e
            raise
        if not more:
            self._tx = None
            return
        self._tx = self._conn.transaction()
        await self._tx.start()

    async def rollback(self) -> None:
        await self._tx.rollback()
        self._tx = self._conn.transaction()
        await self._tx.start()

    async def _unavailable(self, exc: BaseException, what: str) -> DatabaseUnavailable:
        # Every pooled connection may be as dead as this one (a server restart): have the pool
        # replace them on their next use instead of failing one request per stale connection.
        with contextlib.suppress(Exception):
            await self._pool.expire_connections()
        return DatabaseUnavailable(f"{what}: {type(exc).__name__}")


class UnitOfWorkFactory:
    """Hands out units of work over one pool."""

    def __init__(
        self,
        pool: Any,
        *,
        acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT_S,
        client_ids: ClientIds | None = None,
    ) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        # One block of client ids per process, shared by every unit of work.
        self.client_ids = client_ids or ClientIds()

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(
            self.pool,
            acquire_timeout=self.acquire_timeout,
            client_ids=self.client_ids,
        )
