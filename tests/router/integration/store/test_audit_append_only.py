"""The audit log is append-only in the database itself, whoever connects (migrations 0004 and
0008: UPDATE, DELETE and TRUNCATE refused)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from tests.fixtures.db import empty_database

from dydx_router.store import migrate
from dydx_router.store.database import asyncpg_dsn

pytestmark = pytest.mark.integration


def test_audit_entries_cannot_be_changed_or_deleted(pg_server_url: str) -> None:
    async def attempt(url: str) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await conn.execute(
                "INSERT INTO audit_log (actor, action, target) "
                "VALUES ('cli', 'api_key_created', 'k')"
            )
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute("UPDATE audit_log SET actor = 'someone else'")
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute("DELETE FROM audit_log")
            # A row trigger does not see TRUNCATE: a statement trigger must refuse it too, or
            # the service's own connection (often the owner) empties the log in one statement.
            for statement in ("TRUNCATE audit_log", "TRUNCATE audit_log RESTART IDENTITY CASCADE"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                    await conn.execute(statement)
            rows = await conn.fetch("SELECT actor, action FROM audit_log")
            assert [tuple(r) for r in rows] == [("cli", "api_key_created")]
        finally:
            await conn.close()

    with empty_database(pg_server_url, "audit") as url:
        migrate.upgrade(url)
        asyncio.run(attempt(url))
