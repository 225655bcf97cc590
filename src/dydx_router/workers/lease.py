"""Workers that run on one replica at a time, under a lease in the shared database.

The status stream, the subaccount follower and the reconciler of an address run as one group on
whichever replica holds the lease ``workers:<address>`` (``store/leases.py``). The group:

* tries to take the lease every ``ttl_s / 4`` (or at once when another replica releases one:
  ``wake``), so a dead holder's lease, which expires ``ttl_s`` after its last renewal, is taken
  over within ``ttl_s + ttl_s / 4``;
* while it holds it, renews it every ``ttl_s / 4`` and runs its workers, each restarted if it
  dies; a renewal that fails, or finds the lease lost, stops them at once (if the database is
  unreachable the lease is given up as well: another replica may be holding it by now);
* on shutdown (``release``) stops its workers and releases the lease, waking the other replicas.

A lease's ``token`` grows each time it changes hands: a replica that was paused past its lease
and wakes up finds its renewal refused (the token moved on) and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)

WorkerFactory = Callable[[], Awaitable[Any]]


class Leases(Protocol):
    async def acquire(self, name: str, holder: str, ttl_s: float) -> int | None: ...

    async def renew(self, name: str, holder: str, token: int, ttl_s: float) -> bool: ...

    async def release(self, name: str, holder: str) -> None: ...


class LeasedGroup:
    def __init__(
        self,
        leases: Leases,
        name: str,
        holder: str,
        workers: dict[str, WorkerFactory],
        *,
        ttl_s: float = 3.0,
        restart_s: float = 1.0,
        on_standby: Callable[[], None] | None = None,
        keep: Callable[[str, WorkerFactory], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self._leases = leases
        self.name = name
        self.holder = holder
        self._workers = workers
        self._ttl = ttl_s
        self._restart_s = restart_s
        self._on_standby = on_standby
        # How a worker is kept running while the lease is held: the process's supervisor
        # (restarts with backoff, counted, reported by /ready) where there is one.
        self._keep_running = keep or self._keep
        self._wake = asyncio.Event()
        self.token: int | None = None
        self.held_since: float | None = None
        self.takeovers = 0

    @property
    def held(self) -> bool:
        return self.token is not None

    def wake(self) -> None:
        """Another replica released a lease: try to take it now."""
        self._wake.set()

    async def run(self) -> None:
        period = self._ttl / 4
        while True:
            try:
                token = await self._leases.acquire(self.name, self.holder, self._ttl)
            except Exception as e:  # the database is away
                log.warning("lease_acquire_failed", lease=self.name, error=type(e).__name__)
                token = None
            if token is not None:
                self.token, self.held_since = token, time.monotonic()
                self.takeovers += 1
                log.info("lease_acquired", lease=self.name, holder=self.holder, token=token)
                try:
                    await self._hold(token, period)
                finally:
                    self.token = self.held_since = None
                log.warning("lease_lost", lease=self.name, holder=self.holder, token=token)
                continue
            if self._on_standby is not None:
                self._on_standby()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._wake.wait()

    async def _hold(self, token: int, period: float) -> None:
        """Run the workers until the lease is lost (returns) or this task is cancelled."""
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(self._keep_running(n, f), name=f"{self.name}:{n}")
                for n, f in self._workers.items()
            ]
            try:
                while True:
                    await asyncio.sleep(period)
                    try:
                        ok = await self._leases.renew(self.name, self.holder, token, self._ttl)
                    except Exception as e:  # unreachable: another replica may take it over
                        log.warning("lease_renew_failed", lease=self.name, error=type(e).__name__)
                        ok = False
                    if not ok:
                        break
            finally:
                for task in tasks:
                    task.cancel()

    async def _keep(self, name: str, factory: WorkerFactory) -> None:
        while True:
            try:
                await factory()
                log.error("leased_worker_returned", worker=name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leased_worker_crashed", worker=name)
            await asyncio.sleep(self._restart_s)

    async def release(self) -> None:
        """Hand the lease over now (graceful shutdown): the caller has stopped ``run``."""
        with contextlib.suppress(Exception):
            await self._leases.release(self.name, self.holder)
