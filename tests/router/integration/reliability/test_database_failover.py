"""PostgreSQL fails over mid-load: a primary with a synchronous standby, the router given both
hosts in one URL (libpq style, ``target_session_attrs=read-write``); the primary dies (immediate
stop, as if its machine went) and the standby is promoted. Every order the router acknowledged
(HTTP 2xx) must be on the new primary with the status it was acknowledged with, nothing may be
broadcast without its row, the router must place orders again by itself, and its LISTEN
connection must be subscribed on the new primary (a kill switch set there reaches it by NOTIFY).

Run with one router, and with three replicas behind HAProxy (``make run REPLICAS=3``'s setup),
where every replica must come back and hear the kill switch. Short-term orders only: until one
writer holds the account sequence, replicas placing stateful orders race for it.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dydx_router.config import Settings
from dydx_router.doctor import check_database
from dydx_router.domain.risk import TradingState
from dydx_router.store import migrate
from dydx_router.store.trading_state import TradingStateRepository
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.pg_pair import STANDBY_NAME, PostgresPair, find_binaries
from tests.router.integration.reliability.harness import (
    FINAL,
    Load,
    db,
    market_specs,
    order_rows,
    percentiles,
    report,
    resting_orders,
    row_key,
    wait_settled,
)
from tests.router.integration.reliability.replicas import start_routers
from tests.router.integration.reliability.scenario import chain_accepted, funded_wallet

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# How long nothing takes writes: the primary is dead and no standby promoted yet (what a
# failover manager such as Patroni takes to decide, here made short).
DETECTION_S = 1.0


@pytest.fixture
def pg_pair() -> Iterator[PostgresPair]:
    bin_dir = find_binaries()
    if bin_dir is None:
        pytest.skip(
            "no PostgreSQL binaries with pg_basebackup: install the embedded extra "
            "(pip install -e '.[embedded]') or the postgresql package"
        )
    pair = PostgresPair(bin_dir)
    try:
        pair.start()
        pair.psql(pair.primary_port, 'CREATE DATABASE "router"')
        yield pair
    finally:
        pair.close()


@pytest.mark.timeout(150)
@pytest.mark.parametrize("replicas", [1, 3], ids=["one-router", "three-replicas-behind-haproxy"])
async def test_promoted_standby_holds_every_acknowledged_order(
    reliability_devnet: DevnetProcess, pg_pair: PostgresPair, replicas: int, tmp_path: Path
) -> None:
    if replicas > 1 and shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install -y haproxy)")
    devnet, pair = reliability_devnet, pg_pair
    url = pair.url("router")
    # The migration itself goes through the multi-host URL.
    await asyncio.to_thread(migrate.upgrade, url)
    # doctor reads the same URL and says commits wait for the standby.
    doctor_row = await check_database(Settings(DATABASE_URL=url))
    assert doctor_row.endswith(f"synchronous standbys: {STANDBY_NAME}"), doctor_row
    mnemonic, address = await funded_wallet(devnet)
    env = {
        "DYDX_ROUTER_DB_TIMEOUT_S": "1",
        "DYDX_ROUTER_RECONCILE_INTERVAL_S": "0.5",
        # No poll to fall back on within the test: the kill switch can only arrive by NOTIFY.
        "DYDX_ROUTER_RISK_REFRESH_S": "60",
    }
    router = await start_routers(
        devnet, url, mnemonic, replicas=replicas, work_dir=tmp_path, env=env
    )
    bodies = resting_orders(await market_specs(router))  # its url and api_key
    load = Load(router.url, router.api_key, bodies)
    done = asyncio.Event()
    running = asyncio.create_task(load.run(until=done))
    try:
        await load.answered(40)
        killed_at = time.monotonic()
        await asyncio.to_thread(pair.kill_primary)
        await asyncio.sleep(DETECTION_S)
        promoting_at = time.monotonic()
        await asyncio.to_thread(pair.promote_standby)
        promoted_at = time.monotonic()
        while not any(o.started > promoted_at and o.status == 201 for o in load.outcomes):
            if time.monotonic() - promoted_at > 20:
                pytest.fail(f"no order placed after the promotion: {load.summary()}")
            await asyncio.sleep(0.05)
        recovered_at = min(
            o.started + o.seconds
            for o in load.outcomes
            if o.started > promoted_at and o.status == 201
        )
        await asyncio.sleep(1.5)
    finally:
        done.set()
        await running

    try:
        # The kill switch, set on the new primary by another replica (here: by hand), reaches
        # this router by NOTIFY on its re-subscribed LISTEN connection (the poll is 60 s).
        halted_at = time.monotonic()
        async with db(pair.standby_url("router")) as conn, conn.transaction():
            await TradingStateRepository(conn).set(TradingState.HALTED, "failover test", None)
        refused = [
            await _until_halted(replica, router.api_key, bodies(1), within=10)
            for replica in router.replica_urls
        ]
        halt_seen_s = time.monotonic() - halted_at
        async with db(pair.standby_url("router")) as conn, conn.transaction():
            await TradingStateRepository(conn).set(TradingState.ACTIVE, "failover test", None)
        settle_s, statuses = await wait_settled(url, within=60)
    finally:
        router.stop()
    log = router.log_text()

    rows = {str(r["id"]): r for r in await order_rows(url)}
    async with db(url) as conn:
        history = {
            (str(r["order_id"]), r["to_status"])
            for r in await conn.fetch("SELECT order_id, to_status FROM order_status_history")
        }
    acknowledged = [o for o in load.outcomes if 200 <= o.status < 300]
    missing = [o.order_id for o in acknowledged if o.order_id not in rows]
    # A 201 said the broadcast's outcome was stored: that status must have survived too.
    lost_status = [
        (o.order_id, o.order_status)
        for o in acknowledged
        if o.status == 201 and (o.order_id, o.order_status) not in history
    ]
    during = load.between(killed_at, recovered_at)
    accepted, chain_keys = await chain_accepted(devnet, address)
    row_keys = {row_key(r) for r in rows.values()}
    report(
        f"database_failover_{replicas}_replicas",
        {
            "detection_s": DETECTION_S,
            "all": load.summary(),
            "during_failover": load.summary(during),
            "503_latency": percentiles([o.seconds for o in during if o.status == 503]),
            "acknowledged": len(acknowledged),
            "acknowledged_missing_on_new_primary": len(missing),
            "acknowledged_status_lost": len(lost_status),
            "promote_s": round(promoted_at - promoting_at, 2),
            "kill_to_first_placed_order_s": round(recovered_at - killed_at, 2),
            "promotion_to_first_placed_order_s": round(recovered_at - promoted_at, 2),
            "kill_switch_by_notify_on_every_replica_s": round(halt_seen_s, 2),
            "settled_s": round(settle_s, 2),
            "final_statuses": statuses,
            "accepted_by_chain": len(accepted),
            "broadcasts_without_a_row": len(set(chain_keys) - row_keys),
            "unexpected_errors_logged": log.count('"internal_error"'),
        },
    )
    assert acknowledged and not missing, missing[:5]
    assert not lost_status, lost_status[:5]
    # While no host takes writes: a clean 503 with a code, never a 500 or a hang.
    assert {o.status for o in during} <= {201, 202, 503}, load.summary(during)
    assert {o.code for o in during if o.status == 503} <= {
        "database_unavailable",
        "risk_data_unavailable",
    }, load.summary(during)
    assert all(o.status == 201 for o in load.between(recovered_at, float("inf"))), load.summary(
        load.between(recovered_at, float("inf"))
    )
    assert recovered_at - promoted_at < 10
    assert all(r.get("code") == "trading_halted" for r in refused), refused
    assert set(chain_keys) <= row_keys
    assert [k for k, n in chain_keys.items() if n > 1] == []
    assert all(r["status"] in FINAL for r in (await order_rows(url)))
    assert log.count('"internal_error"') == 0
    # Every router says where it writes now (the standby's port, never the credentials).
    assert log.count('"database_host_changed"') >= replicas, "no router logged the new host"
    assert f"127.0.0.1:{pair.standby_port}" in log


async def _until_halted(
    url: str, key: str, body: dict[str, Any], *, within: float
) -> dict[str, object]:
    """Preview an order until the router refuses it as halted; returns the error body."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as client:
        while True:
            resp = await client.post(url + "/v1/orders", json=body, params={"dry_run": "true"})
            if resp.status_code >= 400:
                error: dict[str, object] = resp.json().get("error", {})
                if error.get("code") == "trading_halted" or time.monotonic() > deadline:
                    return error
            elif time.monotonic() > deadline:
                return {"status": resp.status_code}
            await asyncio.sleep(0.02)
