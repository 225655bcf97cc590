"""kill -9 of the router while 500 orders are in flight, then a restart: nothing acknowledged is
lost, every order settles, and the chain never sees an OrderId twice.

The clients behave as careful clients do: each order carries an Idempotency-Key, and an order
whose connection died is sent again (same key, same body) until the restarted router answers.
The devnet adds 50 ms to every gRPC answer so that the kill lands while broadcasts are in flight
(rows committed PENDING whose broadcast outcome the crashed process never learnt).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import pytest

from tests.fixtures.devnet import DevnetProcess
from tests.router.integration.reliability.harness import (
    FINAL,
    Load,
    launch_router,
    market_specs,
    order_rows,
    report,
    resting_orders,
    row_key,
    stop_process,
    wait_settled,
)
from tests.router.integration.reliability.scenario import chain_accepted, funded_wallet

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ORDERS = 500
KILL_AFTER = 200  # orders answered before the kill


@pytest.mark.timeout(240)
async def test_kill_9_mid_load_then_restart(
    reliability_devnet: DevnetProcess, router_db: str
) -> None:
    devnet = reliability_devnet
    mnemonic, address = await funded_wallet(devnet)
    env = {"DYDX_ROUTER_RECONCILE_INTERVAL_S": "0.5"}
    first = await launch_router(devnet, router_db, "crash-1", mnemonic, env)
    specs = await market_specs(first)
    # 35 blocks (7 s): orders left in doubt are still valid when the restarted router looks.
    load = Load(
        first.url,
        first.api_key,
        resting_orders(specs, market_every=10, good_til_blocks=35),
        concurrency=16,
        retry_lost=True,
    )
    await devnet.set_faults(grpc_latency_s=0.05)
    try:
        running = asyncio.create_task(load.run(total=ORDERS))
        await load.answered(KILL_AFTER)
        first.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        stop_process(first)
        rows_at_crash = await order_rows(router_db)
        second = await launch_router(devnet, router_db, "crash-2", mnemonic, env)
        ready_after = time.monotonic() - killed_at
        second_url = second.url
        # The clients were told the new address the way a load balancer would.
        load.url = second_url
        await running
    finally:
        await devnet.reset_faults()
    first_2xx_after = min(
        (o.started + o.seconds for o in load.outcomes if o.started > killed_at and o.status),
        default=float("nan"),
    )
    try:
        settle_s, statuses = await wait_settled(router_db, within=90)
    finally:
        stop_process(second)
    log = second.log_tail(1_000_000)

    in_doubt = Counter(r["status"] for r in rows_at_crash if r["status"] in ("PENDING", "UNKNOWN"))
    rows = await order_rows(router_db)
    ours = {str(r["id"]): r for r in rows}
    answers = load.answers
    accepted, chain_keys = await chain_accepted(devnet, address)
    report(
        "kill_9_mid_load",
        {
            "orders": ORDERS,
            "concurrency": load.concurrency,
            "answered_before_kill": KILL_AFTER,
            "rows_at_crash": len(rows_at_crash),
            "in_doubt_at_crash": dict(in_doubt),
            "lost_connections_resent": sum(1 for o in load.outcomes if o.status == 0),
            "in_flight_409s_resent": load.in_flight_retries,
            "answers": load.summary(list(answers.values())),
            "replays_after_restart": sum(1 for o in answers.values() if o.status == 200),
            "kill_to_ready_s": round(ready_after, 2),
            "kill_to_first_answer_s": round(first_2xx_after - killed_at, 2),
            "settled_after_restart_s": round(settle_s, 2),
            "final_statuses": statuses,
            "rebroadcasts": log.count('"order_rebroadcast"'),
            "rows_in_db": len(rows),
            "accepted_by_chain": len(accepted),
            "duplicate_order_ids_on_chain": sum(n - 1 for n in chain_keys.values() if n > 1),
        },
    )
    assert len(answers) == ORDERS
    assert all(200 <= o.status < 300 for o in answers.values()), load.summary()
    assert {o.order_id for o in answers.values()} <= set(ours), "a 2xx without its row"
    assert len(rows) == ORDERS, "an order stored twice (or a retry not replayed)"
    assert all(r["status"] in FINAL for r in rows)
    assert [k for k, n in chain_keys.items() if n > 1] == [], "an OrderId accepted twice"
    assert set(chain_keys) <= {row_key(r) for r in rows}, "a broadcast without a row"
    submitted = {row_key(ours[o.order_id]) for o in answers.values() if o.status == 201}
    submitted_ok = {
        row_key(ours[o.order_id])
        for o in answers.values()
        if o.status == 201 and o.order_status == "SUBMITTED"
    }
    assert submitted_ok <= set(chain_keys), "a SUBMITTED answer the chain never accepted"
    assert submitted
