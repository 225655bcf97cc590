"""Unit of work: one connection and one transaction; nothing is kept unless ``commit()`` is called.

Services receive a unit-of-work factory and never open connections themselves (cosmicpython).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

from dydx_router.store.api_keys import ApiKeyRepository
from dydx_router.store.audit import AuditRepository
from dydx_router.store.orders import OrderRepository
from dydx_router.store.risk import RiskRepository
from dydx_router.store.trading_state import TradingStateRepository


class UnitOfWork:
    orders: OrderRepository
    api_keys: ApiKeyRepository
    audit: AuditRepository
    risk: RiskRepository
    trading_state: TradingStateRepository

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._conn: Any = None
        self._tx: Any = None

    async def __aenter__(self) -> Self:
        self._conn = await self._pool.acquire()
        try:
            self._tx = self._conn.transaction()
            await self._tx.start()
        except BaseException:
            await self._pool.release(self._conn)
            raise
        self.orders = OrderRepository(self._conn)
        self.api_keys = ApiKeyRepository(self._conn)
        self.audit = AuditRepository(self._conn)
        self.risk = RiskRepository(self._conn)
        self.trading_state = TradingStateRepository(self._conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tx is not None:
                await self._tx.rollback()
        finally:
            self._tx = None
            await self._pool.release(self._conn)

    async def commit(self) -> None:
        """Make everything so far durable; later work in the same block starts a new transaction."""
        await self._tx.commit()
        self._tx = self._conn.transaction()
        await self._tx.start()

    async def rollback(self) -> None:
        await self._tx.rollback()
        self._tx = self._conn.transaction()
        await self._tx.start()


class UnitOfWorkFactory:
    """Hands out units of work over one pool."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.pool)
