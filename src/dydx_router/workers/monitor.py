"""Health of the upstreams, sampled in the background: the facts behind ``/ready`` and the gauges.

- The node's height comes from the height cache (polled every second and fed by the indexer stream).
  A node that still answers but whose height stopped advancing (a halted chain, a stuck node) is as
  useless for short-term orders as a dead one: their good-til-block window closes behind them
  (v4-chain ``protocol/x/clob/types/constants.go`` ShortBlockWindow). So readiness fails when the
  height has not advanced for ``max_block_age_s``.
- The indexer's height is polled from ``GET /v4/height``; when it trails the node by more than
  ``max_indexer_lag_blocks`` the order statuses the router reports are that far behind too.
- Event-loop lag is measured by how late a short timer fires: anything that blocks the loop
  (a slow synchronous call, a GC pause) shows up there first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from dydx_router.chain.errors import ChainError
from dydx_router.observability import metrics

log = structlog.get_logger(__name__)

LOOP_LAG_INTERVAL_S = 0.25


@dataclass
class HealthLimits:
    max_block_age_s: float = 15.0
    max_indexer_lag_blocks: int = 10
    interval_s: float = 1.0
    indexer_timeout_s: float = 2.0


class HealthMonitor:
    """Samples chain and indexer heights; :meth:`problems` says what makes the service unready."""

    def __init__(
        self,
        chain_height: Callable[[], int],
        indexer_height: Callable[[], Awaitable[int]],
        limits: HealthLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``chain_height`` returns the cached node height (raising ``ChainError`` when unknown
        or stale); ``indexer_height`` asks the indexer."""
        self._chain_height = chain_height
        self._indexer_height = indexer_height
        self.limits = limits or HealthLimits()
        self._clock = clock
        self.height: int | None = None
        self._height_changed_at: float | None = None
        self._chain_error: str | None = "no height sampled yet"
        self.indexer_height: int | None = None
        self._indexer_seen_at: float | None = None
        self._indexer_error: str | None = "no indexer height sampled yet"

    # --- sampling ----------------------------------------------------------------------------
    def sample_chain(self) -> None:
        now = self._clock()
        try:
            height = self._chain_height()
        except ChainError as e:
            self._chain_error = e.message
            return
        self._chain_error = None
        if self.height is None or height > self.height:
            self.height = height
            self._height_changed_at = now
        metrics.CHAIN_HEIGHT.set(self.height)
        metrics.CHAIN_HEIGHT_AGE.set(now - (self._height_changed_at or now))

    async def sample_indexer(self) -> None:
        try:
            async with asyncio.timeout(self.limits.indexer_timeout_s):
                height = await self._indexer_height()
        except (ChainError, TimeoutError) as e:
            self._indexer_error = (
                e.message if isinstance(e, ChainError) else "the indexer did not answer in time"
            )
            return
        self._indexer_error = None
        self.indexer_height = height
        self._indexer_seen_at = self._clock()
        metrics.INDEXER_HEIGHT.set(height)
        if self.height is not None:
            metrics.INDEXER_LAG.set(max(0, self.height - height))

    async def sample(self) -> None:
        self.sample_chain()
        await self.sample_indexer()
        metrics.READY.set(0 if self.problems() else 1)

    # --- verdict -----------------------------------------------------------------------------
    def chain_problem(self) -> str | None:
        if self._chain_error is not None:
            return self._chain_error
        assert self._height_changed_at is not None
        age = self._clock() - self._height_changed_at
        if age > self.limits.max_block_age_s:
            return (
                f"the node's height {self.height} has not advanced for {age:.1f} s "
                f"(limit {self.limits.max_block_age_s:g} s)"
            )
        return None

    def indexer_problem(self) -> str | None:
        now = self._clock()
        if self._indexer_seen_at is None or (
            now - self._indexer_seen_at > self.limits.max_block_age_s
        ):
            return self._indexer_error or "the indexer's height is unknown"
        assert self.indexer_height is not None
        if self.height is not None:
            lag = self.height - self.indexer_height
            if lag > self.limits.max_indexer_lag_blocks:
                return (
                    f"the indexer lags the node by {lag} blocks "
                    f"(limit {self.limits.max_indexer_lag_blocks})"
                )
        return None

    def checks(self) -> dict[str, str]:
        return {
            "chain": self.chain_problem() or "ok",
            "indexer": self.indexer_problem() or "ok",
        }

    def problems(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.checks().items() if v != "ok"]

    # --- background --------------------------------------------------------------------------
    async def run(self) -> None:
        """Sample forever (a background task owned by the app lifespan)."""
        lag = asyncio.create_task(self._loop_lag(), name="loop-lag")
        was_ready: bool | None = None
        try:
            while True:
                await self.sample()
                problems = self.problems()
                if was_ready is not False and problems:
                    log.warning("service_not_ready", reasons=problems)
                elif was_ready is False and not problems:
                    log.info("service_ready")
                was_ready = not problems
                await asyncio.sleep(self.limits.interval_s)
        finally:
            lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag

    @staticmethod
    async def _loop_lag() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(LOOP_LAG_INTERVAL_S)
            metrics.EVENT_LOOP_LAG.observe(
                max(0.0, time.perf_counter() - start - LOOP_LAG_INTERVAL_S)
            )
