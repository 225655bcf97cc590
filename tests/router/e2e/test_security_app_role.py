"""The service on a database role of its own (``dydx-router migrate grant-app-role``): it trades
and administers as usual, and the audit log is read and append only for it by privilege, on top
of the triggers that refuse UPDATE, DELETE and TRUNCATE to everyone (docs/security.md)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from dydx_router.store.database import asyncpg_dsn
from tests.fixtures.db import admin_sql, fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import ROOT, RouterProcess, start_router, stop_router
from tests.router.e2e.test_orders import place

pytestmark = pytest.mark.e2e


def as_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


@pytest.fixture(scope="module")
def app_role(pg_server_url: str) -> Iterator[str]:
    role = f"dydx_router_app_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin_sql(pg_server_url, f"CREATE ROLE {role} LOGIN"))
    try:
        yield role
    finally:
        asyncio.run(admin_sql(pg_server_url, f"DROP ROLE IF EXISTS {role}"))


@pytest.fixture(scope="module")
def owned(pg_server_url: str, app_role: str) -> Iterator[str]:
    """The database, migrated by its owner, with the app role granted by the command line."""
    with fresh_database(pg_server_url, "approle") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
        done = subprocess.run(
            [sys.executable, "-m", "dydx_router.cli", "migrate", "grant-app-role", app_role],
            env=env | {"DATABASE_URL": url},
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        yield url


@pytest.fixture(scope="module")
def confined(devnet: DevnetProcess, owned: str, app_role: str) -> Iterator[RouterProcess]:
    r = start_router(devnet, as_role(owned, app_role), "approle")
    try:
        yield r
    finally:
        stop_router(r)


def test_the_service_runs_as_its_own_role_and_cannot_rewrite_the_audit_log(
    confined: RouterProcess, owned: str, app_role: str
) -> None:
    order = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}
    with confined.client() as admin:
        assert place(admin, order).status_code == 201
        created = admin.post("/v1/admin/api-keys", json={"name": "n", "scopes": ["read"]})
        assert created.status_code == 201, created.text
        assert admin.put("/v1/admin/risk-limits/global", json={}).status_code == 200
        entries = admin.get("/v1/admin/audit").json()["entries"]
        assert {"api_key_created", "risk_limits_set"} <= {e["action"] for e in entries}

    async def attempt() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(as_role(owned, app_role)))
        try:
            for statement in (
                "UPDATE audit_log SET actor = 'x'",
                "DELETE FROM audit_log",
                "TRUNCATE audit_log",
            ):
                # Refused by privilege (before any trigger): "permission denied".
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                    await conn.execute(statement)
            count = await conn.fetchval("SELECT count(*) FROM audit_log")
            assert count >= 2
        finally:
            await conn.close()

    asyncio.run(attempt())
