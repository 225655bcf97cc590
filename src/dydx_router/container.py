"""What the composition root (``bootstrap.py``) builds: the `Container` the API reads its services
from, its readiness checks, its supervised workers and its graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from dydx_router import replicas
from dydx_router.chain.errors import ChainError
from dydx_router.chain.gateway import DydxExchange
from dydx_router.config import Settings
from dydx_router.service.admin import AdminService
from dydx_router.service.events import EventHub
from dydx_router.service.orders import OrderService
from dydx_router.service.ratelimit import RateLimiter
from dydx_router.service.risk import (
    PreTradeGate,
)
from dydx_router.service.sync import OrderSync
from dydx_router.store import notify
from dydx_router.store.key_cache import KeyCache
from dydx_router.store.uow import UnitOfWorkFactory
from dydx_router.workers.lease import LeasedGroup
from dydx_router.workers.monitor import HealthMonitor
from dydx_router.workers.status import StatusStreamWorker
from dydx_router.workers.supervisor import Heartbeat, Supervisor

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Container:
    """Built once, whole, by the composition root (``bootstrap.build_container``): nothing
    assigns to it afterwards."""

    settings: Settings
    pool: Any
    uow: UnitOfWorkFactory
    exchange: DydxExchange
    orders: OrderService
    sync: OrderSync
    key_cache: KeyCache = field(default_factory=KeyCache)
    monitor: HealthMonitor | None = None
    rate_limiter: RateLimiter = field(default_factory=lambda: RateLimiter({}))
    admin: AdminService | None = None
    gate: PreTradeGate | None = None
    # Every background worker, restarted when it dies (workers/supervisor.py).
    supervisor: Supervisor = field(default_factory=Supervisor)
    status: StatusStreamWorker | None = None
    events: EventHub | None = None  # GET /v1/events (service/events.py)
    listener: notify.Listener | None = None  # NOTIFY from the other replicas
    # Leases held by this replica; released first at shutdown (replicas.py).
    leases: tuple[LeasedGroup | replicas.Presence, ...] = ()
    presence: replicas.Presence | None = None
    # Closed last, in reverse order, at shutdown; collected by the composition root.
    closers: tuple[Callable[[], Awaitable[Any]], ...] = ()

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2):
                async with self.pool.acquire(timeout=2) as conn:
                    await conn.fetchval("SELECT 1")
            checks["database"] = "ok"
        except (OSError, TimeoutError, Exception) as exc:
            checks["database"] = f"unreachable ({type(exc).__name__})"
        if self.monitor is not None:
            checks |= self.monitor.checks()
        else:
            try:
                checks["chain"] = "ok" if self.exchange.latest_height() else "no height"
            except ChainError as exc:
                checks["chain"] = exc.message
        checks["markets"] = "ok" if self.exchange.markets() else "not loaded"
        checks["prices"] = self.exchange.prices_problem() or "ok"
        checks["workers"] = "; ".join(self.supervisor.problems()) or "ok"
        standby = any(isinstance(g, LeasedGroup) and not g.held for g in self.leases)
        if self.status is not None and standby:
            checks["status_stream"] = "ok"  # another replica holds the workers' lease
        elif self.status is not None:
            s = self.settings
            checks["status_stream"] = (
                self.status.problem(
                    max_behind_s=s.ready_max_stream_behind_s, max_down_s=s.ready_max_block_age_s
                )
                or "ok"
            )
        return checks

    def spawn(
        self,
        factory: Callable[[], Awaitable[Any]],
        name: str,
        *,
        heartbeat: Heartbeat | None = None,
        stale_after_s: float | None = None,
    ) -> None:
        """Run ``factory()`` as a supervised worker (restarted if it dies)."""
        self.supervisor.spawn(name, factory, heartbeat=heartbeat, stale_after_s=stale_after_s)

    async def _hand_over_leases(self) -> None:
        """Stop the leased workers and release their leases, so another replica takes them
        over at once rather than when they expire."""
        for name in ("worker-lease", "replica-presence"):
            worker = self.supervisor.workers.get(name)
            if worker is not None and worker.task is not None:
                worker.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await worker.task
        for group in self.leases:
            await group.release()

    async def aclose(self) -> None:
        """Graceful shutdown: refuse new writes, let those in flight finish their broadcast and
        DB writes (up to ``shutdown_grace_s``), stop the workers, close the clients and the pool.
        The HTTP server has already stopped accepting connections (cli.py)."""
        await self._hand_over_leases()
        writes = self.orders.writes
        writes.close()
        log.info("shutdown_started", writes_in_flight=writes.in_flight)
        left = await writes.drain(self.settings.shutdown_grace_s)
        if left:
            # Cut anyway: their rows are PENDING or UNKNOWN, which the reconciler settles.
            log.warning("shutdown_writes_abandoned", writes_in_flight=left)
        await self.supervisor.aclose()
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):
                await close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.settings.db_timeout_s):
                await self.pool.close()
        log.info("shutdown_complete")
