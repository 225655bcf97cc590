"""The node client against the devnet's fault switches: a throttled node is retried, a node that
refuses connections opens its breaker and is answered for at once, and the background monitor
closes the breaker when the node is back."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from dydx_router.chain.errors import ChainUnavailable
from dydx_router.chain.node import GrpcEndpoint, NodeClient
from dydx_router.chain.resilience import BreakerPolicy, BreakerState, HealthPolicy
from dydx_router.chain.retries import RetryPolicy
from tests.fixtures.devnet import DevnetProcess
from tests.router.integration.reliability.harness import percentiles, report

pytestmark = pytest.mark.integration

POLICY = HealthPolicy(breaker=BreakerPolicy(failure_threshold=3, reset_timeout_s=0.3))


async def test_resource_exhausted_is_retried_within_the_budget(
    reliability_devnet: DevnetProcess,
) -> None:
    d = reliability_devnet
    async with NodeClient(
        [GrpcEndpoint(d.grpc)], timeout=2, health=POLICY, retry=RetryPolicy(budget_s=3)
    ) as node:
        await d.set_faults(grpc_error={"status": "RESOURCE_EXHAUSTED", "times": 2})
        try:
            assert await node.latest_height() > 0  # two refusals absorbed, no error surfaced
        finally:
            await d.reset_faults()


async def test_refused_connections_fail_fast_then_recover(
    reliability_devnet: DevnetProcess,
) -> None:
    d = reliability_devnet
    async with NodeClient(
        [GrpcEndpoint(d.grpc)], timeout=2, health=POLICY, retry=RetryPolicy(budget_s=1)
    ) as node:
        await node.latest_height()
        monitor = asyncio.create_task(node.monitor(interval=0.1, probe_timeout=0.5))
        fast: list[float] = []
        try:
            await d.set_faults(grpc_refuse_connections=True)
            refused_at = time.monotonic()
            while node.pool.health[0].breaker.state is BreakerState.CLOSED:
                assert time.monotonic() - refused_at < 5
                await asyncio.sleep(0.02)
            opened_after = time.monotonic() - refused_at
            for _ in range(50):
                started = time.monotonic()
                with pytest.raises(ChainUnavailable) as exc:
                    await node.latest_height()
                fast.append(time.monotonic() - started)
                assert exc.value.details.get("circuit_open")
            await d.reset_faults()
            back_at = time.monotonic()
            while not node.pool.health[0].breaker.closed:
                assert time.monotonic() - back_at < 10
                await asyncio.sleep(0.02)
            closed_after = time.monotonic() - back_at
            assert await node.latest_height() > 0
        finally:
            await d.reset_faults()
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
    report(
        "node_refusing_connections",
        {
            "breaker_open_after_s": round(opened_after, 2),
            "fail_fast_calls": len(fast),
            "fail_fast_latency": percentiles(fast),
            "breaker_closed_after_node_back_s": round(closed_after, 2),
        },
    )
    assert max(fast) < 0.01  # no I/O at all while open
