"""The whole devnet (node, indexer, websocket) frozen mid-load, then thawed: fast 503s while it
is down, normal service after it returns, no manual step.

The outage is SIGSTOP/SIGCONT of the devnet process. That is the harder and more faithful kind:
a real chain does not lose its state when the node we talk to disappears, and a frozen process
still completes TCP handshakes, so nothing fails fast by itself: every call hangs until its
deadline (no RST, no "connection refused"). Restarting the devnet instead would start a new
chain from genesis, which no real outage does. (A refused port is covered by the failover test.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tests.fixtures.devnet import DevnetProcess
from tests.router.integration.reliability.harness import (
    FINAL,
    order_rows,
    percentiles,
    report,
    row_key,
)
from tests.router.integration.reliability.scenario import Scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 5.0
# Short deadlines and quick probes, so that a bounded test sees every phase.
ENV = {
    "DYDX_ROUTER_RECONCILE_INTERVAL_S": "0.5",
    "DYDX_ROUTER_NODE_TIMEOUT_S": "1",
    "DYDX_ROUTER_INDEXER_TIMEOUT_S": "1",
    "DYDX_ROUTER_BROADCAST_TIMEOUT_S": "1",
    "DYDX_ROUTER_CHAIN_RETRY_BUDGET_S": "1.5",
    "DYDX_ROUTER_HEALTH_CHECK_INTERVAL_S": "0.25",
    "DYDX_ROUTER_HEALTH_CHECK_TIMEOUT_S": "0.3",
    "DYDX_ROUTER_BREAKER_RESET_TIMEOUT_S": "0.5",
    "DYDX_ROUTER_BREAKER_MAX_RESET_TIMEOUT_S": "1",
}


@pytest.mark.timeout(180)
async def test_frozen_chain_answers_503_fast_and_recovers_by_itself(
    reliability_devnet: DevnetProcess, router_db: str
) -> None:
    devnet = reliability_devnet
    run = await Scenario.start(devnet, router_db, "outage", ENV)
    load = run.load
    async with run.loaded():
        await asyncio.sleep(2.0)
        stopped_at = time.monotonic()
        os.kill(devnet.process.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(OUTAGE_S)
        finally:
            os.kill(devnet.process.pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        recovered_at = await run.first_placed_after(
            resumed_at,
            lambda o: o.status == 201 and o.order_status == "SUBMITTED",
            "no order accepted after the devnet returned",
        )
        await asyncio.sleep(2.0)  # normal service again
    settle_s, statuses = await run.settle_and_stop(within=60)

    before = [o for o in load.outcomes if o.started + o.seconds < stopped_at]
    # Everything answered while the devnet was frozen, including the calls it froze mid-way.
    during = [
        o for o in load.outcomes if o.started + o.seconds >= stopped_at and o.started < resumed_at
    ]
    after = load.between(recovered_at, float("inf"))
    fast = [o for o in during if o.status == 503]
    first_503 = min((o.started + o.seconds for o in fast), default=float("nan"))
    rows = await order_rows(router_db)
    accepted, chain_keys = await run.accepted()
    answered_2xx = [o for o in load.outcomes if 200 <= o.status < 300]
    report(
        "chain_frozen_mid_load",
        {
            "outage_s": OUTAGE_S,
            "before": load.summary(before),
            "during": load.summary(during),
            "after_recovery": load.summary(after),
            "stop_to_first_fast_503_s": round(first_503 - stopped_at, 2),
            "fast_503_latency": percentiles([o.seconds for o in fast]),
            "resume_to_first_accepted_order_s": round(recovered_at - resumed_at, 2),
            "settled_s": round(settle_s, 2),
            "final_statuses": statuses,
            "rows_in_db": len(rows),
            "accepted_by_chain": len(accepted),
            "duplicate_order_ids_on_chain": sum(n - 1 for n in chain_keys.values() if n > 1),
        },
    )
    assert all(o.status == 201 for o in before), load.summary(before)
    # During the freeze: the calls in flight end at their deadline as UNKNOWN (202), then the
    # breakers are open and every order is refused at once, before anything is stored.
    assert {o.status for o in during} <= {201, 202, 503}, load.summary(during)
    assert sum(o.status == 202 for o in during) <= load.concurrency  # only those caught mid-way
    assert len(fast) >= 20, load.summary(during)
    assert {o.code for o in fast} == {"chain_unavailable"}
    # Refused without waiting on a node: well under the 1 s node timeout even on a busy machine
    # (CI runs two test workers on two cores; ~5-20 ms when the machine is idle).
    assert percentiles([o.seconds for o in fast])["p95_ms"] < 500  # type: ignore[operator]
    assert first_503 - stopped_at < 4.0
    assert all(o.status == 201 for o in after), load.summary(after)
    assert recovered_at - resumed_at < 5.0
    # Nothing stored for a refused order; every answered order stored; all settled; no dupes.
    assert len(rows) == len(answered_2xx)
    assert {o.order_id for o in answered_2xx} == {str(r["id"]) for r in rows}
    assert all(r["status"] in FINAL for r in rows)
    assert [k for k, n in chain_keys.items() if n > 1] == []
    assert set(chain_keys) <= {row_key(r) for r in rows}
