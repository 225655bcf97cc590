"""The composition root: the one place where real adapters are built and wired together."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from dydx_router.config import Settings
from dydx_router.store.database import create_pool
from dydx_router.store.uow import UnitOfWorkFactory


@dataclass
class Container:
    settings: Settings
    pool: Any
    uow: UnitOfWorkFactory
    _closers: list[Any] = field(default_factory=list)

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2):
                async with self.pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
            checks["database"] = "ok"
        except (OSError, TimeoutError, Exception) as exc:
            checks["database"] = f"unreachable ({type(exc).__name__})"
        return checks

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            await close()
        await self.pool.close()


async def build_container(settings: Settings) -> Container:
    pool = await create_pool(
        settings.require_database_url(),
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
    )
    return Container(settings=settings, pool=pool, uow=UnitOfWorkFactory(pool))
