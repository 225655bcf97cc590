"""Every background worker runs under one supervisor: restarted when it dies, visible when it is
dead or stale.

A worker is a coroutine factory. When its coroutine raises anything but a cancellation, or
returns (a worker's loop never ends by itself), the supervisor logs ``worker_crashed`` with the
exception, counts ``dydx_router_worker_restarts_total{worker}``, waits (exponential backoff with
full jitter, 0.5 s doubled up to 30 s; back to 0.5 s after the worker ran ``healthy_after_s``
without dying) and starts a fresh coroutine. Without this a loop that met an error outside its
guarded list (an indexer error message, a bug) stopped for good while the service looked healthy.

Workers that make progress in rounds take a :class:`Heartbeat` and beat it every round;
``stale_after_s`` past the last beat the worker counts as stale (alive but stuck), which
``/ready`` reports with the workers that are down (:meth:`Supervisor.problems`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from dydx_router.observability import metrics

log = structlog.get_logger(__name__)

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
# A worker that ran this long before dying starts its next backoff from the beginning.
HEALTHY_AFTER_S = 60.0
# How long shutdown waits for the workers to honour their cancel.
CLOSE_WITHIN_S = 5.0


def _cancel_requested() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Heartbeat:
    """A worker's proof of progress: ``beat()`` each round; ``age()`` since the last one."""

    __slots__ = ("_clock", "at")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.at = clock()

    def beat(self) -> None:
        self.at = self._clock()

    def age(self) -> float:
        return self._clock() - self.at


@dataclass
class Worker:
    name: str
    factory: Callable[[], Awaitable[Any]]
    heartbeat: Heartbeat | None = None
    stale_after_s: float | None = None
    running: bool = False
    restarts: int = 0
    last_error: str | None = None
    # When the current backoff ends (monotonic), while the worker is down.
    restart_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    def __init__(
        self,
        *,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        healthy_after_s: float = HEALTHY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._healthy_after = healthy_after_s
        self._clock = clock
        self.workers: dict[str, Worker] = {}
        self._closing = False

    def heartbeat(self) -> Heartbeat:
        return Heartbeat(self._clock)

    def spawn(
        self,
        name: str,
        factory: Callable[[], Awaitable[Any]],
        *,
        heartbeat: Heartbeat | None = None,
        stale_after_s: float | None = None,
    ) -> Worker:
        """Run ``factory()`` as the worker ``name``, for as long as the supervisor lives."""
        if name in self.workers:
            raise ValueError(f"worker {name!r} already exists")
        worker = Worker(name, factory, heartbeat, stale_after_s, running=True)
        self.workers[name] = worker
        worker.task = asyncio.create_task(self._keep(worker), name=f"supervise-{name}")
        return worker

    async def keep(self, name: str, factory: Callable[[], Awaitable[Any]]) -> None:
        """Run ``factory()`` as the worker ``name`` in the calling task, restarted, counted and
        reported like a spawned one, until the caller cancels it. It is then no longer listed:
        a replica that lost its lease (workers/lease.py) has no such worker, not a dead one."""
        if name in self.workers:
            raise ValueError(f"worker {name!r} already exists")
        worker = Worker(name, factory, None, None, running=True)
        self.workers[name] = worker
        try:
            await self._keep(worker)
        finally:
            self.workers.pop(name, None)

    async def _keep(self, worker: Worker) -> None:
        failures = 0
        while True:
            started = self._clock()
            worker.running, worker.restart_at = True, None
            if worker.heartbeat is not None:
                worker.heartbeat.beat()
            try:
                await worker.factory()
                worker.last_error = "returned"
                log.error("worker_crashed", worker=worker.name, error="the worker returned")
            except asyncio.CancelledError:
                worker.running = False
                raise
            except Exception as e:
                if self._closing or _cancel_requested():
                    # The cancel was turned into another error on its way out (asyncpg raises
                    # "transaction is in error state" from a rollback the cancel cut short):
                    # the worker is being stopped, not crashing. Restarting it here swallowed
                    # the shutdown and the process never exited.
                    worker.running = False
                    raise asyncio.CancelledError from e
                worker.last_error = f"{type(e).__name__}: {e}"
                log.exception("worker_crashed", worker=worker.name)
            worker.running = False
            if self._closing:
                return
            failures = 1 if self._clock() - started >= self._healthy_after else failures + 1
            delay = random.uniform(
                0, min(self._backoff_max, self._backoff_initial * 2 ** (failures - 1))
            )
            worker.restart_at = self._clock() + delay
            worker.restarts += 1
            metrics.labelled(metrics.WORKER_RESTARTS, worker.name).inc()
            await asyncio.sleep(delay)
            log.warning("worker_restarted", worker=worker.name, restarts=worker.restarts)

    def problems(self) -> list[str]:
        """What is wrong with the workers: down (crashed, waiting to restart) or stale."""
        out: list[str] = []
        for w in self.workers.values():
            if not w.running:
                wait = max(0.0, (w.restart_at or self._clock()) - self._clock())
                out.append(
                    f"{w.name} is down ({w.last_error}); restart {w.restarts} in {wait:.1f} s"
                )
            elif w.heartbeat is not None and w.stale_after_s is not None:
                age = w.heartbeat.age()
                if age > w.stale_after_s:
                    out.append(
                        f"{w.name} is stale: no progress for {age:.1f} s "
                        f"(limit {w.stale_after_s:g} s)"
                    )
        return out

    def up(self) -> dict[str, bool]:
        """Per worker: running (read by the metrics collector at scrape time)."""
        return {name: w.running for name, w in self.workers.items()}

    async def aclose(self, within: float = CLOSE_WITHIN_S) -> None:
        """Stop every worker; a worker that ignores its cancel is left behind after ``within``
        seconds rather than holding the process up (shutdown must end)."""
        self._closing = True
        tasks = [w.task for w in self.workers.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, stuck = await asyncio.wait(tasks, timeout=within)
        for task in stuck:
            log.error("worker_stop_timed_out", worker=task.get_name())
        for task in tasks:
            if task.done() and not task.cancelled():
                with contextlib.suppress(Exception):
                    task.result()
