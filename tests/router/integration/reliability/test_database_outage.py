"""PostgreSQL restarted mid-load: clean 503s while it is down, no broadcast without its row, and
the router recovers by itself when the database is back.

The database is a PostgreSQL of this test's own (an embedded pgserver in a fresh data directory,
never the server other tests share), stopped with a fast shutdown (open connections terminated)
and started again on the same socket with the same data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from dydx_router.store import migrate
from dydx_router.store.embedded import with_database
from tests.fixtures.db import admin_sql
from tests.fixtures.devnet import DevnetProcess
from tests.router.integration.reliability.harness import (
    FINAL,
    order_rows,
    percentiles,
    report,
    row_key,
)
from tests.router.integration.reliability.outages import OwnPostgres
from tests.router.integration.reliability.scenario import Scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 3.0


@pytest.fixture
def own_db() -> Iterator[tuple[OwnPostgres, str]]:
    server = OwnPostgres("dbout")
    try:
        admin = server.start()
        asyncio.run(admin_sql(admin, 'CREATE DATABASE "router"'))
        url = with_database(admin, "router")
        migrate.upgrade(url)
        yield server, url
    finally:
        server.close()


@pytest.mark.timeout(180)
async def test_database_restart_mid_load(
    reliability_devnet: DevnetProcess, own_db: tuple[OwnPostgres, str]
) -> None:
    devnet = reliability_devnet
    server, url = own_db
    env = {"DYDX_ROUTER_RECONCILE_INTERVAL_S": "0.5", "DYDX_ROUTER_DB_TIMEOUT_S": "1"}
    run = await Scenario.start(devnet, url, "dbout", env)
    router, load = run.router, run.load
    async with run.loaded():
        await asyncio.sleep(2.0)
        stopped_at = time.monotonic()
        await asyncio.to_thread(server.stop)
        down_at = time.monotonic()
        await asyncio.sleep(OUTAGE_S)
        starting_at = time.monotonic()
        await asyncio.to_thread(server.resume)
        resumed_at = time.monotonic()
        recovered_at = await run.first_placed_after(
            resumed_at, lambda o: o.status == 201, "no order placed after the database returned"
        )
        await asyncio.sleep(2.0)
    settle_s, statuses = await run.settle_and_stop(within=60)
    log = router.log_tail(2_000_000)

    before = [o for o in load.outcomes if o.started + o.seconds < stopped_at]
    during = [o for o in load.outcomes if down_at <= o.started < starting_at]
    after = load.between(recovered_at, float("inf"))
    refused = [o for o in during if o.status == 503]
    rows = await order_rows(url)
    accepted, chain_keys = await run.accepted()
    answered_2xx = [o for o in load.outcomes if 200 <= o.status < 300]
    report(
        "database_restart_mid_load",
        {
            "outage_s": OUTAGE_S,
            "before": load.summary(before),
            "during": load.summary(during),
            "after_recovery": load.summary(after),
            "all": load.summary(),
            "503_latency": percentiles([o.seconds for o in refused]),
            "db_start_to_first_placed_order_s": round(recovered_at - starting_at, 2),
            "settled_s": round(settle_s, 2),
            "final_statuses": statuses,
            "rows_in_db": len(rows),
            "accepted_by_chain": len(accepted),
            "broadcasts_without_a_row": len(set(chain_keys) - {row_key(r) for r in rows}),
            "unexpected_errors_logged": log.count('"internal_error"'),
        },
    )
    assert all(o.status == 201 for o in before), load.summary(before)
    # While it is down: a clean 503 with a code, never a 500 or a hang.
    assert refused and all(o.status == 503 for o in during), load.summary(during)
    assert {o.code for o in refused} <= {"database_unavailable", "risk_data_unavailable"}
    assert percentiles([o.seconds for o in refused])["p95_ms"] < 1000  # type: ignore[operator]
    assert all(o.status == 201 for o in after), load.summary(after)
    assert recovered_at - resumed_at < 10
    # Nothing broadcast without a row; every acknowledged order stored; all settled; no dupes.
    assert set(chain_keys) <= {row_key(r) for r in rows}
    assert {o.order_id for o in answered_2xx} <= {str(r["id"]) for r in rows}
    assert all(r["status"] in FINAL for r in rows)
    assert [k for k, n in chain_keys.items() if n > 1] == []
