"""The application's own database role: what the service needs, and the audit log append-only
by privilege as well as by trigger (``dydx-router migrate grant-app-role ROLE``).

Run by the tables' owner (the role that runs the migrations), in one transaction:

- ``SELECT, INSERT, UPDATE, DELETE`` on every table and ``USAGE, SELECT, UPDATE`` on every
  sequence of the schema, now and (default privileges) for the tables later migrations create;
- then ``UPDATE``, ``DELETE`` and ``TRUNCATE`` on ``audit_log`` taken away: the role may read and
  append, nothing else. The triggers of migrations 0004 and 0008 refuse the same to everyone, so
  the privileges are the second lock; the owner's credentials stay away from the service.

The role itself (``CREATE ROLE ... LOGIN PASSWORD ...``) is the operator's: this does not create
it, and it is named, never interpolated unquoted.
"""

from __future__ import annotations

import asyncpg

from dydx_router.store.database import asyncpg_dsn

_TABLES = "SELECT, INSERT, UPDATE, DELETE"
_SEQUENCES = "USAGE, SELECT, UPDATE"


def statements(role: str) -> list[str]:
    """The statements for ``role`` (an already quoted identifier)."""
    return [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT {_TABLES} ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT {_SEQUENCES} ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {_TABLES} ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {_SEQUENCES} ON SEQUENCES TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {role}",
    ]


async def grant_app_role(database_url: str, role: str) -> None:
    """Give ``role`` what the service needs, with the audit log read and append only."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        if not exists:
            raise LookupError(f"no database role named {role!r}: create it first")
        quoted: str = await conn.fetchval("SELECT quote_ident($1)", role)
        async with conn.transaction():
            for statement in statements(quoted):
                await conn.execute(statement)
    finally:
        await conn.close()
