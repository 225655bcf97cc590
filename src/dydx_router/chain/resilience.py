"""Resilience for the upstream clients: circuit breakers and health-scored failover (the retry
policy is ``chain/retries.py``).

The node and indexer clients each hold an :class:`EndpointPool`: one :class:`CircuitBreaker` and
one :class:`EndpointHealth` per configured endpoint. Everything on the request path is O(1) and
makes no network call of its own:

* a call asks the pool for :meth:`EndpointPool.candidates` (the ranked list, re-ranked only after
  a failure, a breaker closing, or a background monitor round), and reports the outcome with
  :meth:`EndpointPool.succeeded` / :meth:`EndpointPool.failed` (two EWMA updates and a counter);
* when no endpoint is closed the pool says so at once (:meth:`EndpointPool.unavailable_for`),
  so the API answers 503 without waiting for a deadline;
* probing open endpoints (half-open) and measuring block-height lag is the job of a background
  monitor (``NodeClient.monitor`` / ``IndexerClient.monitor``); without a monitor, real traffic
  may act as the half-open probe instead (``traffic_probes``).

Which errors are retried is decided in ``chain/retries.py`` (:func:`retry_identical`), from the
dispositions of ``chain/errors.py``: transport failures and a full mempool may be retried with the
*identical* request, which for a broadcast means the identical signed bytes (the chain dedupes them:
sdk/19, cosmos-sdk ``client/broadcast.go`` CheckCometError, an answer that leaves the outcome
unknown); a rejection whose remedy changes the tx (sequence, height) is left to the sequencer or the
caller, and nothing is ever retried with new identifiers (blind retries placed duplicate orders:
junta/tradingview-alert-connector #30).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

import structlog

from dydx_router.chain.errors import ChainError

E = TypeVar("E")
T = TypeVar("T")
Clock = Callable[[], float]
log = structlog.get_logger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"  # traffic flows
    OPEN = "open"  # failing: no traffic until the cool-down has passed
    HALF_OPEN = "half_open"  # one probe in flight decides: closed again, or open for longer


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    #: Consecutive failures that open the breaker.
    failure_threshold: int = 3
    #: First cool-down before a half-open probe; doubled after each failed probe up to the max.
    reset_timeout_s: float = 1.0
    max_reset_timeout_s: float = 15.0


class CircuitBreaker:
    """Closed → open after ``failure_threshold`` consecutive failures → half-open after the
    cool-down (one probe) → closed on success, open again (longer cool-down) on failure."""

    __slots__ = ("_clock", "_cooldown", "_failures", "_policy", "_probe_at", "_retry_at", "_state")

    def __init__(self, policy: BreakerPolicy | None = None, *, clock: Clock = time.monotonic):
        self._policy = policy or BreakerPolicy()
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._cooldown = self._policy.reset_timeout_s
        self._retry_at = 0.0  # when OPEN: earliest half-open probe
        self._probe_at = 0.0  # when HALF_OPEN: when the probe started

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state is BreakerState.CLOSED

    def probe_due(self) -> bool:
        """Claim the half-open probe if it is due (one caller gets True per cool-down)."""
        if self._state is BreakerState.CLOSED:
            return False
        now = self._clock()
        if self._state is BreakerState.OPEN:
            if now < self._retry_at:
                return False
        elif now - self._probe_at < self._cooldown:
            return False  # a probe is in flight (or was lost: after a cool-down, allow another)
        self._state = BreakerState.HALF_OPEN
        self._probe_at = now
        return True

    def retry_after(self) -> float:
        """Seconds until a probe may run (0 when closed or a probe is due)."""
        if self._state is BreakerState.CLOSED:
            return 0.0
        if self._state is BreakerState.OPEN:
            until = self._retry_at
        else:
            until = self._probe_at + self._cooldown
        return max(0.0, until - self._clock())

    def record_success(self) -> bool:
        """Returns True if the state changed."""
        self._failures = 0
        if self._state is BreakerState.CLOSED:
            return False
        self._state = BreakerState.CLOSED
        self._cooldown = self._policy.reset_timeout_s
        return True

    def record_failure(self) -> bool:
        """Returns True if the state changed (the breaker opened or re-opened)."""
        now = self._clock()
        if self._state is BreakerState.HALF_OPEN:
            self._cooldown = min(self._cooldown * 2, self._policy.max_reset_timeout_s)
            self._open(now)
            return True
        self._failures += 1
        if self._state is BreakerState.CLOSED and self._failures >= self._policy.failure_threshold:
            self._open(now)
            return True
        return False

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._retry_at = now + self._cooldown


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    breaker: BreakerPolicy = BreakerPolicy()
    #: Weight of the newest sample in the latency and error-rate moving averages.
    ewma_alpha: float = 0.3
    #: Seconds of latency an error rate of 1.0 is worth when ranking endpoints.
    error_penalty_s: float = 0.05
    #: Blocks an endpoint may trail the best one before it is penalised (one block is normal).
    lag_tolerance_blocks: int = 2
    #: Seconds of latency each block of lag beyond the tolerance is worth.
    lag_penalty_s: float = 0.05
    #: An endpoint this far behind is stale: used only when nothing fresher is closed.
    max_lag_blocks: int = 20
    #: Switch away from the endpoint in use only for one whose score is below this fraction of
    #: its score (minus 1 ms), so that two similar endpoints do not flap.
    switch_ratio: float = 0.7


class EndpointHealth:
    """What is known about one endpoint: breaker, latency and error EWMAs, last block height."""

    __slots__ = ("breaker", "errors", "height", "latency_s", "name", "samples")

    def __init__(self, name: str, policy: HealthPolicy, clock: Clock) -> None:
        self.name = name
        self.breaker = CircuitBreaker(policy.breaker, clock=clock)
        self.latency_s = 0.0
        self.errors = 0.0
        self.samples = 0
        self.height: int | None = None

    def score(self, policy: HealthPolicy, best_height: int | None) -> float:
        """Lower is better: latency, plus penalties for recent errors and for height lag."""
        value = self.latency_s + self.errors * policy.error_penalty_s
        lag = self.lag(best_height)
        if lag > policy.lag_tolerance_blocks:
            value += (lag - policy.lag_tolerance_blocks) * policy.lag_penalty_s
        return value

    def lag(self, best_height: int | None) -> int:
        if best_height is None or self.height is None:
            return 0
        return max(0, best_height - self.height)

    def snapshot(self, policy: HealthPolicy, best_height: int | None) -> dict[str, object]:
        return {
            "endpoint": self.name,
            "state": self.breaker.state.value,
            "latency_ms": round(self.latency_s * 1000, 2),
            "error_rate": round(self.errors, 3),
            "height": self.height,
            "lag_blocks": self.lag(best_height),
            "score": round(self.score(policy, best_height), 4),
        }


class EndpointPool(Generic[E]):
    """Endpoints ranked by health; the request path reads a precomputed order (O(1))."""

    def __init__(
        self,
        endpoints: Sequence[E],
        names: Sequence[str],
        policy: HealthPolicy | None = None,
        *,
        clock: Clock = time.monotonic,
        traffic_probes: bool = True,
        upstream: str = "upstream",
    ) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is required")
        self.upstream = upstream
        self.endpoints = list(endpoints)
        self.policy = policy or HealthPolicy()
        self.health = [EndpointHealth(n, self.policy, clock) for n in names]
        #: Without a background monitor, real calls may be the half-open probe.
        self.traffic_probes = traffic_probes
        self._ranked: list[int] = list(range(len(self.endpoints)))
        self._best_height: int | None = None

    def __len__(self) -> int:
        return len(self.endpoints)

    @property
    def current(self) -> int:
        """The endpoint traffic goes to first."""
        return self._ranked[0]

    @property
    def best_height(self) -> int | None:
        return self._best_height

    def candidates(self) -> Iterator[int]:
        """Closed endpoints, best first; with none closed, an endpoint whose probe is due (only
        if ``traffic_probes``). Lazy: a half-open probe is claimed only when reached."""
        any_closed = False
        for i in self._ranked:
            if self.health[i].breaker.closed:
                any_closed = True
                yield i
        if not any_closed and self.traffic_probes:
            for i in self._ranked:
                if self.claim_probe(i):
                    yield i

    def claim_probe(self, index: int) -> bool:
        """Claim the half-open probe of an open endpoint if it is due."""
        if self.health[index].breaker.probe_due():
            self._changed(index)
            return True
        return False

    def all_open(self) -> bool:
        return not any(h.breaker.closed for h in self.health)

    def retry_after(self) -> float:
        """Seconds until some endpoint may be tried again (0 if one is closed)."""
        if not self.all_open():
            return 0.0
        return min(h.breaker.retry_after() for h in self.health)

    def unavailable_for(self) -> float | None:
        """None when a call could go out now; else the seconds until one could."""
        if not self.all_open():
            return None
        if self.traffic_probes and any(h.breaker.retry_after() == 0 for h in self.health):
            return None  # the next call is a probe
        return self.retry_after()

    def succeeded(self, index: int, latency_s: float, height: int | None = None) -> None:
        h = self.health[index]
        a = self.policy.ewma_alpha
        h.latency_s = latency_s if h.samples == 0 else h.latency_s + a * (latency_s - h.latency_s)
        h.errors -= a * h.errors
        h.samples += 1
        if height is not None:
            self.observe_height(index, height)
        if h.breaker.record_success():
            self._changed(index)
            self.rerank()

    def failed(self, index: int) -> None:
        h = self.health[index]
        h.errors += self.policy.ewma_alpha * (1.0 - h.errors)
        if h.breaker.record_failure():
            self._changed(index)
        self.rerank()  # off the happy path: demote the failing endpoint at once

    def _changed(self, index: int) -> None:
        h = self.health[index]
        state = h.breaker.state
        event = {
            BreakerState.OPEN: "circuit_breaker_opened",
            BreakerState.HALF_OPEN: "circuit_breaker_probing",
            BreakerState.CLOSED: "circuit_breaker_closed",
        }[state]
        level = log.warning if state is BreakerState.OPEN else log.info
        level(event, upstream=self.upstream, endpoint=h.name, retry_after_s=h.breaker.retry_after())

    def observe_height(self, index: int, height: int) -> None:
        self.health[index].height = height
        if self._best_height is None or height > self._best_height:
            self._best_height = height

    def observe_reference_height(self, height: int) -> None:
        """A height from elsewhere (the chain's, for indexers): lag is measured against it."""
        if self._best_height is None or height > self._best_height:
            self._best_height = height

    def rerank(self) -> None:
        """Recompute the order: closed and fresh first, by score; keep the endpoint in use
        unless another is clearly better (hysteresis)."""
        p, best = self.policy, self._best_height

        def key(i: int) -> tuple[int, float, int]:
            h = self.health[i]
            # Closed and fresh, then closed but never measured (configured order), then
            # closed but stale, then open.
            tier = 0 if h.breaker.closed else 3
            if tier == 0 and h.samples == 0:
                tier = 1
            elif tier == 0 and h.lag(best) > p.max_lag_blocks:
                tier = 2
            return (tier, h.score(p, best), i)

        ranked = sorted(range(len(self.endpoints)), key=key)
        previous = self._ranked[0]
        if ranked[0] != previous and key(previous)[0] == 0 and key(ranked[0])[0] == 0:
            ours, theirs = key(previous)[1], key(ranked[0])[1]
            if theirs > ours * p.switch_ratio - 0.001:
                ranked.remove(previous)
                ranked.insert(0, previous)
        self._ranked = ranked

    def snapshot(self) -> list[dict[str, object]]:
        return [h.snapshot(self.policy, self._best_height) for h in self.health]


def retry_after_header(seconds: float) -> str:
    """An HTTP ``Retry-After`` value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(seconds)))


def circuit_open_error(
    cls: type[ChainError], what: str, pool: EndpointPool[E], retry_after_s: float
) -> ChainError:
    """The fail-fast error when every endpoint's breaker is open."""
    names = ", ".join(h.name for h in pool.health)
    return cls(
        f"every {what} endpoint is failing ({names}); next attempt in {retry_after_s:.1f} s",
        circuit_open=True,
        retry_after_s=round(retry_after_s, 3),
    )
