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


def test_the_migrations_build_what_tables_py_declares(pg_server_url: str) -> None:
    """No drift between the schema the migrations create and ``store/tables.py``: columns,
    constraints and indexes (alembic's comparison), and which indexes are partial (which it does
    not compare)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine

    from dydx_router.store.database import sqlalchemy_url
    from dydx_router.store.tables import metadata

    async def diff(url: str) -> list[Any]:
        engine = create_async_engine(sqlalchemy_url(url))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
                )
        finally:
            await engine.dispose()

    async def partial(url: str) -> dict[str, bool]:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            rows = await conn.fetch("SELECT indexname, indexdef FROM pg_indexes")
            return {r["indexname"]: " WHERE " in r["indexdef"] for r in rows}
        finally:
            await conn.close()

    declared = {
        ix.name: ix.dialect_options["postgresql"]["where"] is not None
        for table in metadata.tables.values()
        for ix in table.indexes
    }
    with empty_database(pg_server_url, "drift") as url:
        migrate.upgrade(url)
        assert asyncio.run(diff(url)) == []
        built = asyncio.run(partial(url))
        assert {name: built.get(name) for name in declared} == declared
