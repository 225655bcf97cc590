"""The outbound limiter: stay inside the chain's per-account block rate limits (never clob/5001).

The chain counts short-term placements and cancels (a batch cancel weighs 2) and stateful
placements per owner address over the last N blocks, failed attempts included, and refuses the
excess with clob/5001 (``protocol/x/clob/rate_limit/``). The limits are read from
the node (``clob.Query/BlockRateLimitConfiguration``) at start and every few minutes.

Each admitted message is counted at the latest height the router knows (the HeightCache, fed by
the indexer's block stream). The router's view of the height can trail the chain's by a moment,
which would let a message counted at an older height fall out of our window while the chain still
counts it, so the window is widened by ``slack_blocks`` (default 1). ``share`` is the fraction of
the allowance this process may use: give each of N replicas 1/N.

When the window is full, ``admit`` waits for the height at which enough of it frees up, at most
``max_wait_s``; after that it refuses with ``ChainRateLimited`` (HTTP 429 ``chain_rate_limited``
with ``Retry-After``). It runs before anything is persisted, so a refused request leaves nothing.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import structlog

from dydx_router.domain.errors import ChainRateLimited

log = structlog.get_logger(__name__)

# x/clob/rate_limit/order_rate_limiter.go: a MsgBatchCancel counts twice.
BATCH_CANCEL_WEIGHT = 2


class Heights(Protocol):
    @property
    def height(self) -> int: ...

    async def wait_for_height(self, height: int, *, within: float) -> int: ...


Counts = dict[str, dict[int, int]]


class SharedCounts(Protocol):
    """The counts of every replica, locked while one admission reads and updates them."""

    def locked(self, floor: int) -> AbstractAsyncContextManager[Counts]: ...


class Kind(StrEnum):
    PLACE_SHORT_TERM = "place_short_term"
    CANCEL_SHORT_TERM = "cancel_short_term"
    PLACE_STATEFUL = "place_stateful"


@dataclass(frozen=True, slots=True)
class BlockLimit:
    limit: int
    num_blocks: int


@dataclass(frozen=True, slots=True)
class ChainLimits:
    """The node's BlockRateLimitConfiguration; an empty tuple is "no limit"."""

    short_term_orders: tuple[BlockLimit, ...] = ()
    short_term_cancels: tuple[BlockLimit, ...] = ()
    short_term_orders_and_cancels: tuple[BlockLimit, ...] = ()
    stateful_orders: tuple[BlockLimit, ...] = ()

    @classmethod
    def of(cls, config: object) -> ChainLimits:
        """From ``chain.node.BlockRateLimits`` (attributes of (limit, num_blocks) items); zero
        values disable a limit (block_rate_limit_config.proto)."""

        def conv(items: Sequence[object]) -> tuple[BlockLimit, ...]:
            out = (BlockLimit(int(i.limit), int(i.num_blocks)) for i in items)  # type: ignore[attr-defined]
            return tuple(b for b in out if b.limit > 0 and b.num_blocks > 0)

        return cls(
            short_term_orders=conv(config.short_term_orders),  # type: ignore[attr-defined]
            short_term_cancels=conv(config.short_term_cancels),  # type: ignore[attr-defined]
            short_term_orders_and_cancels=conv(config.short_term_orders_and_cancels),  # type: ignore[attr-defined]
            stateful_orders=conv(config.stateful_orders),  # type: ignore[attr-defined]
        )


# Until the node answers: the mainnet values (2000 short-term orders and cancels per 5 blocks since
# v5.0.0, v4-chain protocol/app/upgrades/v5.0.0/upgrade.go; 2 stateful per block and 20 per 100
# blocks at dydx-mainnet-1 genesis).
MAINNET_DEFAULTS = ChainLimits(
    short_term_orders_and_cancels=(BlockLimit(2000, 5),),
    stateful_orders=(BlockLimit(2, 1), BlockLimit(20, 100)),
)

_BUCKETS: dict[Kind, tuple[str, ...]] = {
    Kind.PLACE_SHORT_TERM: ("short_term_orders", "short_term_orders_and_cancels"),
    Kind.CANCEL_SHORT_TERM: ("short_term_cancels", "short_term_orders_and_cancels"),
    Kind.PLACE_STATEFUL: ("stateful_orders",),
}

_ALL_BUCKETS = frozenset(b for names in _BUCKETS.values() for b in names)


class ChainThrottle:
    def __init__(
        self,
        heights: Heights,
        *,
        limits: ChainLimits = MAINNET_DEFAULTS,
        share: float = 1.0,
        slack_blocks: int = 1,
        max_wait_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedCounts | None = None,
        replicas: Callable[[], int] = lambda: 1,
    ) -> None:
        self._shared = shared
        self._replicas = replicas
        self._divisor = 1
        self._heights = heights
        self._share = share
        self._slack = slack_blocks
        self._max_wait = max_wait_s
        self._clock = clock
        self._counts: dict[str, dict[int, int]] = {}
        self._first_seen: tuple[int, float] | None = None
        self._last_seen: tuple[int, float] | None = None
        self.limits = limits

    def configure(self, limits: ChainLimits) -> None:
        if limits != self.limits:
            log.info("chain_rate_limits_loaded", limits=str(limits))
        self.limits = limits

    def capacity(self, limit: BlockLimit) -> int:
        return math.floor(limit.limit * self._share / self._divisor)

    # --- counting ---------------------------------------------------------------------------
    def _window(self, bucket: str, limit: BlockLimit, height: int) -> int:
        low = height - limit.num_blocks - self._slack
        return sum(c for h, c in self._counts.get(bucket, {}).items() if h > low)

    def _frees_at(self, bucket: str, limit: BlockLimit, height: int, weight: int) -> int:
        """The first height at which ``weight`` more fits in the window."""
        cap = self.capacity(limit)
        if weight > cap:
            raise ChainRateLimited(
                f"the chain allows only {cap} such messages per {limit.num_blocks} blocks "
                "to this router",
                retry_after_s=60,
                limit=limit.limit,
                num_blocks=limit.num_blocks,
            )
        counts = self._counts.get(bucket, {})
        candidate = height
        while self._window(bucket, limit, candidate) + weight > cap:
            # The window slides past the oldest counted height still in it.
            low = candidate - limit.num_blocks - self._slack
            oldest = min(h for h in counts if h > low)
            candidate = oldest + limit.num_blocks + self._slack
        return candidate

    def try_admit(self, kind: Kind, weight: int, height: int) -> int | None:
        """Count the message at ``height`` and return None, or return the height to wait for."""
        wait_for = height
        for bucket in _BUCKETS[kind]:
            for limit in getattr(self.limits, bucket):
                wait_for = max(wait_for, self._frees_at(bucket, limit, height, weight))
        if wait_for > height:
            return wait_for
        for bucket in _BUCKETS[kind]:
            if getattr(self.limits, bucket):
                per_height = self._counts.setdefault(bucket, {})
                per_height[height] = per_height.get(height, 0) + weight
        self._prune(height)
        return None

    async def _admit_once(self, kind: Kind, weight: int, height: int) -> int | None:
        if self._shared is None:
            return self.try_admit(kind, weight, height)
        if kind is not Kind.PLACE_STATEFUL:
            self._divisor = max(1, self._replicas())
            try:
                return self.try_admit(kind, weight, height)
            finally:
                self._divisor = 1
        longest = max(b.num_blocks for b in self.limits.stateful_orders) if (
            self.limits.stateful_orders
        ) else 1  # fmt: skip
        local = self._counts
        async with self._shared.locked(height - longest - self._slack) as counts:
            self._counts = counts  # every replica's, updated in place and written back
            try:
                # Replicas see the height at different moments: one that trails counts at the
                # newest height another has counted at, or its messages would fall out of the
                # window while the chain still counts them.
                newest = max((h for per in counts.values() for h in per), default=height)
                return self.try_admit(kind, weight, max(height, newest))
            finally:
                self._counts = local

    def _prune(self, height: int) -> None:
        longest = max(
            (b.num_blocks for name in _ALL_BUCKETS for b in getattr(self.limits, name)), default=1
        )
        floor = height - longest - self._slack
        for bucket, per_height in self._counts.items():
            if min(per_height, default=floor + 1) <= floor:
                self._counts[bucket] = {h: c for h, c in per_height.items() if h > floor}

    def _block_seconds(self, height: int) -> float:
        now = self._clock()
        if self._first_seen is None:
            self._first_seen = (height, now)
        if self._last_seen is None or height > self._last_seen[0]:
            self._last_seen = (height, now)
        (h0, t0), (h1, t1) = self._first_seen, self._last_seen
        return (t1 - t0) / (h1 - h0) if h1 > h0 else 1.0

    # --- the order path ---------------------------------------------------------------------
    async def admit(self, kind: Kind, weight: int = 1) -> None:
        deadline = self._clock() + self._max_wait
        while True:
            height = self._heights.height
            wait_for = await self._admit_once(kind, weight, height)
            if wait_for is None:
                return
            per_block = self._block_seconds(height)
            remaining = deadline - self._clock()
            if remaining <= 0:
                retry = max(1, math.ceil((wait_for - height) * per_block))
                raise ChainRateLimited(
                    f"the chain's block rate limit for this account is used up until height "
                    f"{wait_for} (now {height}); retry in about {retry} s",
                    retry_after_s=retry,
                    height=height,
                    frees_at_height=wait_for,
                )
            try:
                await self._heights.wait_for_height(wait_for, within=remaining)
            except TimeoutError:
                deadline = self._clock()  # refuse on the next pass, with a fresh estimate

    async def run(
        self, fetch: Callable[[], Awaitable[object]], *, every_s: float = 300, retry_s: float = 5
    ) -> None:
        """Reload the limits from the node now and then (a background task)."""
        while True:
            try:
                self.configure(ChainLimits.of(await fetch()))
                await asyncio.sleep(every_s)
            # The node's errors are the chain adapter's types; a refresher must survive them all.
            except Exception as exc:
                log.warning("chain_rate_limits_refresh_failed", error=type(exc).__name__)
                await asyncio.sleep(retry_s)
