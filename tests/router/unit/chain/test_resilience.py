"""Circuit breakers, health-ranked endpoint pools and the retry classification (no sockets)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import httpx
import pytest

from dydx_router.chain.errors import (
    ChainQueryFailed,
    ChainTimeout,
    ChainUnavailable,
    IndexerUnavailable,
    rejection,
)
from dydx_router.chain.indexer import IndexerClient
from dydx_router.chain.resilience import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    EndpointPool,
    HealthPolicy,
    circuit_open_error,
    retry_after_header,
)
from dydx_router.chain.retries import RetryPolicy, keep_cause, retry_identical


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = BreakerPolicy(failure_threshold=3, reset_timeout_s=1.0, max_reset_timeout_s=4.0)


def test_breaker_opens_after_consecutive_failures_only() -> None:
    b = CircuitBreaker(POLICY, clock=Clock())
    b.record_failure()
    b.record_failure()
    b.record_success()  # a success resets the count: failures must be consecutive
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED
    assert b.record_failure() is True
    assert b.state is BreakerState.OPEN and not b.closed


def test_half_open_allows_one_probe_then_closes_or_reopens_for_longer() -> None:
    clock = Clock()
    b = CircuitBreaker(POLICY, clock=clock)
    for _ in range(3):
        b.record_failure()
    assert not b.probe_due() and b.retry_after() == pytest.approx(1.0)
    clock.now += 1.0
    assert b.probe_due() is True and b.state is BreakerState.HALF_OPEN
    assert b.probe_due() is False  # one probe at a time
    b.record_failure()  # the probe failed: open again, cool-down doubled
    assert b.state is BreakerState.OPEN and b.retry_after() == pytest.approx(2.0)
    clock.now += 2.0
    assert b.probe_due()
    b.record_failure()
    clock.now += 4.0  # capped at max_reset_timeout_s
    assert b.probe_due()
    assert b.record_success() is True and b.state is BreakerState.CLOSED
    for _ in range(3):
        b.record_failure()
    assert b.retry_after() == pytest.approx(1.0)  # the cool-down starts over after a recovery


def test_a_lost_probe_does_not_wedge_the_breaker() -> None:
    clock = Clock()
    b = CircuitBreaker(POLICY, clock=clock)
    for _ in range(3):
        b.record_failure()
    clock.now += 1.0
    assert b.probe_due()  # the probe's caller is cancelled and never reports
    clock.now += 0.5
    assert not b.probe_due()
    clock.now += 0.5
    assert b.probe_due()


def _pool(n: int = 3, **kw: object) -> tuple[EndpointPool[str], Clock]:
    clock = Clock()
    names = [f"e{i}" for i in range(n)]
    policy = HealthPolicy(breaker=POLICY, **kw)  # type: ignore[arg-type]
    return EndpointPool(names, names, policy, clock=clock), clock


def test_configured_order_is_kept_while_healthy() -> None:
    pool, _ = _pool()
    assert list(pool.candidates()) == [0, 1, 2]
    pool.succeeded(0, 0.002)
    pool.succeeded(1, 0.0018)  # marginally faster: not worth switching (hysteresis)
    pool.rerank()
    assert pool.current == 0


def test_a_failure_demotes_at_once_and_an_open_breaker_removes_the_endpoint() -> None:
    pool, _ = _pool()
    for i in range(3):
        pool.succeeded(i, 0.001)
    pool.failed(0)
    assert pool.current == 1 and list(pool.candidates())[-1] == 0
    pool.failed(0)
    pool.failed(0)
    assert list(pool.candidates()) == [1, 2]
    assert not pool.all_open() and pool.unavailable_for() is None


def test_all_open_fails_fast_with_the_time_until_a_probe() -> None:
    pool, clock = _pool(2)
    pool.traffic_probes = False  # a monitor owns the probes
    for _ in range(3):
        pool.failed(0)
        pool.failed(1)
    assert pool.all_open() and list(pool.candidates()) == []
    assert pool.unavailable_for() == pytest.approx(1.0)
    clock.now += 0.4
    assert pool.retry_after() == pytest.approx(0.6)
    err = circuit_open_error(ChainUnavailable, "node", pool, pool.retry_after())
    assert err.details["circuit_open"] and not retry_identical(err)
    assert "every node endpoint is failing (e0, e1)" in str(err)


def test_without_a_monitor_traffic_is_the_half_open_probe() -> None:
    pool, clock = _pool(2)
    for _ in range(3):
        pool.failed(0)
        pool.failed(1)
    assert list(pool.candidates()) == []
    clock.now += 1.0
    assert pool.unavailable_for() is None
    assert next(pool.candidates()) in (0, 1)  # claims exactly one probe
    assert pool.health[0].breaker.state is BreakerState.HALF_OPEN or (
        pool.health[1].breaker.state is BreakerState.HALF_OPEN
    )


def test_recovered_better_endpoint_takes_over_again() -> None:
    pool, clock = _pool(2)
    pool.succeeded(0, 0.001)
    pool.succeeded(1, 0.020)  # the fallback is slower
    for _ in range(3):
        pool.failed(0)
    assert pool.current == 1
    clock.now += 1.0
    assert pool.health[0].breaker.probe_due()
    pool.succeeded(0, 0.001)  # the probe succeeds: closed, but its error rate is still high
    for _ in range(6):  # monitor rounds: the error average decays with each success
        pool.succeeded(0, 0.001)
        pool.succeeded(1, 0.020)
        pool.rerank()
    assert pool.current == 0


def test_height_lag_ranks_a_stale_endpoint_last() -> None:
    pool, _ = _pool(2, max_lag_blocks=5)
    pool.succeeded(0, 0.001, height=100)
    pool.succeeded(1, 0.010, height=130)
    pool.rerank()
    assert pool.current == 1  # 30 blocks behind: stale, whatever its latency
    snap = {s["endpoint"]: s for s in pool.snapshot()}
    assert snap["e0"]["lag_blocks"] == 30 and snap["e1"]["lag_blocks"] == 0
    pool.succeeded(0, 0.001, height=130)
    pool.rerank()
    assert pool.current == 0  # caught up, and faster


def test_reference_height_counts_for_lag() -> None:
    pool, _ = _pool(1)
    pool.succeeded(0, 0.001, height=90)
    pool.observe_reference_height(100)
    assert pool.snapshot()[0]["lag_blocks"] == 10


@pytest.mark.parametrize(
    ("err", "retry"),
    [
        (ChainUnavailable("down"), True),
        (ChainTimeout("slow"), True),  # a broadcast is resent with the identical bytes
        (IndexerUnavailable("down"), True),
        (ChainUnavailable("all open", circuit_open=True, retry_after_s=1.0), False),
        (rejection("sdk", 20, "mempool is full"), True),
        (rejection("sdk", 32, "account sequence mismatch, expected 5, got 4"), False),
        (rejection("clob", 5001, "Block rate limit exceeded"), False),
        (rejection("clob", 10, "GoodTilBlock 9 is less than the current blockHeight"), False),
        (rejection("sdk", 19, "tx already exists in cache"), False),
        (ChainQueryFailed("bad request"), False),
        (ValueError("not ours"), False),
    ],
)
def test_retry_classification(err: Exception, retry: bool) -> None:
    assert retry_identical(err) is retry


def test_keep_cause_reports_the_first_failure_as_fail_fast() -> None:
    first = ChainUnavailable("no node endpoint answered (a): UNAVAILABLE")
    later = ChainUnavailable("every node endpoint is failing", circuit_open=True, retry_after_s=2)
    assert keep_cause(first, later) is first
    assert first.details == {"circuit_open": True, "retry_after_s": 2}
    other = ChainUnavailable("still down")
    assert keep_cause(ChainUnavailable("x"), other) is other


def test_retry_after_header_is_whole_seconds_at_least_one() -> None:
    assert [retry_after_header(s) for s in (0, 0.2, 1.0, 1.01, 7.5)] == ["1", "1", "1", "2", "8"]


async def test_retrying_stops_at_the_budget() -> None:
    calls = 0
    policy = RetryPolicy(budget_s=0.2, max_attempts=50, initial_backoff_s=0.02, max_backoff_s=0.05)
    with pytest.raises(ChainUnavailable):
        async for attempt in policy.retrying(retry_identical, 0.2):
            with attempt:
                calls += 1
                raise ChainUnavailable("down")
    assert 2 <= calls < 50


# --- the indexer client over a mock transport -----------------------------------------------


async def test_indexer_demotes_a_failing_endpoint_and_the_monitor_brings_it_back() -> None:
    seen: list[str] = []
    down = {"a"}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host in down:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"height": "100", "time": "2026-11-24T00:00:00.000Z"})

    async def until(predicate: Callable[[], bool]) -> None:
        for _ in range(200):
            if predicate():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("condition not reached")

    policy = HealthPolicy(breaker=BreakerPolicy(failure_threshold=2, reset_timeout_s=0.05))
    async with IndexerClient(
        ["http://a", "http://b"], transport=httpx.MockTransport(handler), health=policy
    ) as client:
        assert (await client.height()).height == 100
        assert seen == ["a", "b"]  # failed over within the call
        await client.height()
        assert seen[2:] == ["b"]  # and demoted at once: no request pays for "a" again
        breaker = client.pool.health[0].breaker
        monitor = asyncio.create_task(client.monitor(interval=0.01, probe_timeout=0.5))
        try:
            await until(lambda: breaker.state is BreakerState.OPEN)  # the probes open it
            down.clear()  # "a" recovers: the half-open probe closes it
            await until(lambda: breaker.closed)
        finally:
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor


async def test_indexer_fails_fast_while_every_endpoint_is_open() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(503, text="down")

    policy = HealthPolicy(breaker=BreakerPolicy(failure_threshold=1, reset_timeout_s=30))
    async with IndexerClient(
        ["http://a"], transport=httpx.MockTransport(handler), health=policy
    ) as client:
        with pytest.raises(IndexerUnavailable, match="HTTP 503"):
            await client.height()
        tried = len(sent)
        started = time.monotonic()
        with pytest.raises(IndexerUnavailable) as exc:
            await client.height()
        # Fast means no request and no backoff sleep: counted, not timed to the millisecond.
        assert len(sent) == tried, "a request went to an endpoint whose circuit is open"
        assert time.monotonic() - started < 0.5
        assert exc.value.details["circuit_open"] and exc.value.details["retry_after_s"] > 29
