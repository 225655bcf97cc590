"""The load balancer dies mid-load (SIGKILL of HAProxy in front of three replicas) and comes back:
clients resend every request that lost its connection with the same Idempotency-Key. Every
request ends with one order, none is placed twice, and the chain holds exactly the orders the
database holds: a request cut with the balancer was finished by its replica and replayed, never
placed again.

Short-term orders only: until one writer holds the account sequence, replicas placing stateful
orders on one account race for it (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dydx_router.localcluster import LocalCluster, find_haproxy
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import create_key
from tests.router.integration.reliability.harness import (
    Load,
    new_mnemonic,
    order_rows,
    report,
    resting_orders,
    row_key,
    wait_settled,
)
from tests.router.integration.reliability.replicas import replica_env
from tests.router.integration.reliability.scenario import chain_accepted

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def cluster(
    reliability_devnet: DevnetProcess, router_db: str, tmp_path: Path
) -> Iterator[tuple[LocalCluster, str]]:
    try:
        find_haproxy()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    mnemonic, address = new_mnemonic()
    asyncio.run(reliability_devnet.fund(address, "100000"))
    env = replica_env(reliability_devnet, router_db, mnemonic, {})
    lb = LocalCluster(3, "127.0.0.1", 0, tmp_path)  # it binds, HAProxy inherits
    try:
        lb.start(env)
        yield lb, address
    finally:
        lb.stop()


@pytest.mark.timeout(150)
async def test_orders_cut_with_the_balancer_are_resent_never_placed_twice(
    reliability_devnet: DevnetProcess, router_db: str, cluster: tuple[LocalCluster, str]
) -> None:
    lb, address = cluster
    _, key = await create_key(router_db, {"read", "trade"})
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as c:
        markets = (await c.get(lb.url + "/v1/markets")).json()["markets"]
    load = Load(lb.url, key, resting_orders({m["market"]: m for m in markets}), retry_lost=True)
    done = asyncio.Event()
    running = asyncio.create_task(load.run(until=done))
    try:
        await load.answered(40)
        (haproxy,) = [c for c in lb.children if c.name == "haproxy"]
        killed_at = time.monotonic()
        os.kill(haproxy.process.pid, signal.SIGKILL)
        await asyncio.to_thread(haproxy.process.wait, 5)
        await asyncio.sleep(1.0)  # the balancer is down for a second
        await asyncio.to_thread(lb.start_balancer)
        back_at = time.monotonic()
        answered = len(load.answers)
        await load.answered(answered + 40)
    finally:
        done.set()
        await running
    settle_s, statuses = await wait_settled(router_db, within=60)

    cut = [o for o in load.outcomes if o.status == 0]
    replayed = [o for o in load.answers.values() if o.status == 200]
    answers = list(load.answers.values())
    ids = Counter(o.order_id for o in answers)
    rows = await order_rows(router_db)
    accepted, chain_keys = await chain_accepted(reliability_devnet, address)
    first_after = min(o.started + o.seconds for o in answers if o.started >= back_at)
    report(
        "balancer_death",
        {
            "requests": len(answers),
            "connections_cut_or_refused": len(cut),
            "answered_as_replays": len(replayed),
            "by_status": dict(Counter(o.status for o in answers)),
            "balancer_down_s": round(back_at - killed_at, 2),
            "restart_to_first_answer_s": round(first_after - back_at, 2),
            "rows": len(rows),
            "accepted_by_chain": len(accepted),
            "settled_s": round(settle_s, 2),
            "final_statuses": statuses,
        },
    )
    assert cut, "the kill cut nothing: the test proved nothing"
    assert all(200 <= o.status < 300 for o in answers), load.summary()
    # One order per request, none twice: the rows are exactly the answered orders.
    assert max(ids.values()) == 1 and len(ids) == len(answers)
    assert {str(r["id"]) for r in rows} == set(ids)
    assert set(chain_keys) == {row_key(r) for r in rows}
    assert max(chain_keys.values()) == 1
