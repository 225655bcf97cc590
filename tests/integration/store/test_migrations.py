"""Migrations go up, down and up again cleanly on a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from tests.fixtures.db import empty_database

from dydx_router.store import migrate
from dydx_router.store.database import asyncpg_dsn

pytestmark = pytest.mark.integration


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows: list[Any] = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        seqs: list[Any] = await conn.fetch("SELECT sequencename FROM pg_sequences")
        return {r["tablename"] for r in rows} | {r["sequencename"] for r in seqs}
    finally:
        await conn.close()


def test_up_down_up(pg_server_url: str) -> None:
    with empty_database(pg_server_url, "mig") as url:
        migrate.upgrade(url)
        tables = asyncio.run(_tables(url))
        assert {
            "orders",
            "order_status_history",
            "api_keys",
            "alembic_version",
            "order_client_id_seq",
            "risk_limits",
            "trading_state",
            "audit_log",
        } <= tables
        migrate.downgrade(url, "base")
        assert asyncio.run(_tables(url)) == {"alembic_version"}
        migrate.upgrade(url)
        assert asyncio.run(_tables(url)) == tables
