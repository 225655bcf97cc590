"""``dydx-router audit`` against the devnet and PostgreSQL: orders placed through the router agree
with the chain; statuses corrupted in the database are reported (exit 1); ``--since`` narrows the
window; the audit never writes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from dydx_router.domain.audit import AuditRules
from dydx_router.store.database import asyncpg_dsn
from dydx_router.store.readonly import ReadOnlyOrders
from tests.fixtures.audit import chain_disagreements
from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess, free_port, start_router, stop_router
from tests.router.e2e.test_orders import oracle, order_of, place, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def audited(devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    """A router on a database of its own: the audit covers every order in it."""
    with fresh_database(pg_server_url, "audit") as url:
        r = start_router(devnet, url, "audit")
        try:
            yield r
        finally:
            stop_router(r)


def audit(router: RouterProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    env.update(
        {
            "DATABASE_URL": router.database_url,
            "DYDX_ROUTER_NETWORK": "devnet",
            "DYDX_ROUTER_NODE_ENDPOINTS": router.devnet.grpc,
            "DYDX_ROUTER_INDEXER_URLS": router.devnet.indexer,
        }
    )
    cmd = [sys.executable, "-m", "dydx_router.cli", "audit", "--grace", "1", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


async def _sql(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def sql(router: RouterProcess, query: str, *args: Any) -> Any:
    return asyncio.run(_sql(router.database_url, query, *args))


def snapshot(router: RouterProcess) -> Any:
    return sql(
        router,
        "SELECT (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o), "
        "(SELECT count(*) FROM order_status_history)",
    )[0]


def created_at(router: RouterProcess, order_id: str) -> datetime:
    rows = sql(router, "SELECT created_at FROM orders WHERE id = $1::uuid", order_id)
    value: datetime = rows[0]["created_at"]
    return value


def test_audit_agrees_then_reports_corrupted_statuses(audited: RouterProcess) -> None:
    with audited.client() as c:
        market = place(c, {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"})
        assert market.status_code == 201, market.text
        filled = market.json()["id"]
        far = (oracle(c, "ETH-USD") / 2).quantize(Decimal("0.1"))
        limit = {"market": "ETH-USD", "side": "BUY", "type": "LIMIT", "size": "0.01"}
        resting = place(c, {**limit, "price": str(far), "good_til_seconds": 600}).json()["id"]
        canceled = place(c, {**limit, "price": str(far), "good_til_seconds": 600}).json()["id"]
        far_sol = (oracle(c, "SOL-USD") / 2).quantize(Decimal("0.01"))
        short = {"market": "SOL-USD", "side": "BUY", "type": "LIMIT", "size": "1"}
        expired = place(c, {**short, "price": str(far_sol), "good_til_blocks": 3}).json()["id"]

        def settled(order_id: str, status: str) -> None:
            wait_for(lambda: order_of(c, order_id), lambda o: o["status"] == status, timeout=30)

        settled(resting, "OPEN")
        settled(canceled, "OPEN")
        assert c.delete(f"/v1/orders/{canceled}").status_code == 200
        settled(canceled, "CANCELED")
        settled(filled, "FILLED")
        settled(expired, "EXPIRED")
    time.sleep(1.5)  # past the audit's --grace of 1 s since the last change

    clean = audit(audited)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "4 orders checked" in clean.stdout and "0 disagree" in clean.stdout, clean.stdout

    # Corrupt two stored statuses, as a bug in the router would.
    sql(audited, "UPDATE orders SET status = 'EXPIRED' WHERE id = $1::uuid", filled)
    sql(audited, "UPDATE orders SET status = 'CANCELED' WHERE id = $1::uuid", resting)
    before = snapshot(audited)
    found = audit(audited)
    assert found.returncode == 1, found.stdout + found.stderr
    out = found.stdout
    assert filled in out and resting in out, out
    assert canceled not in out and expired not in out, out
    assert "2 disagree" in out
    assert "FILLED 0.001" in out  # what the chain shows of the order stored EXPIRED
    assert snapshot(audited) == before  # the audit wrote nothing
    # The same comparison as a function, for tests that end a scenario with it.
    rules = AuditRules(grace=timedelta(seconds=1))
    found_in_process = asyncio.run(chain_disagreements(audited, rules=rules))
    assert {str(a.order.id) for a in found_in_process} == {filled, resting}

    # --since: only orders created at or after that time.
    after_filled = created_at(audited, resting).isoformat()
    narrowed = audit(audited, "--since", after_filled)
    assert narrowed.returncode == 1, narrowed.stdout + narrowed.stderr
    assert resting in narrowed.stdout and filled not in narrowed.stdout
    assert "3 orders checked" in narrowed.stdout and "1 disagree" in narrowed.stdout
    later = audit(audited, "--since", "0s")
    assert later.returncode == 0 and "0 orders checked" in later.stdout, later.stdout
    bad = audit(audited, "--since", "yesterday")
    assert bad.returncode == 2 and "--since 'yesterday'" in bad.stderr, bad.stderr


async def test_the_audit_connection_cannot_write(audited: RouterProcess) -> None:
    stored = await ReadOnlyOrders.connect(audited.database_url)
    try:
        with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
            await stored.conn.execute("UPDATE orders SET status = 'FILLED'")
        with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
            await stored.conn.execute("DELETE FROM order_status_history")
    finally:
        await stored.aclose()


def test_no_verdict_when_the_database_cannot_be_read() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    env.update(
        {
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/none",
            "DYDX_ROUTER_NETWORK": "devnet",
        }
    )
    cmd = [sys.executable, "-m", "dydx_router.cli", "audit"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: audit not completed: "), result.stderr
    assert "disagree" not in result.stdout
