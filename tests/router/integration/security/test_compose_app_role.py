"""Compose's database roles, run against PostgreSQL as compose runs them: the postgres image's
init script creates the router's role, the ``migrate`` job (as the tables' owner) migrates and
grants it, and the router's role may then append to the audit log and nothing else there
(docs/security.md, "Audit log"; docs/deployment.md)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import asyncpg
import pytest
import yaml

from dydx_router.store.database import asyncpg_dsn
from tests.fixtures.db import admin_sql, empty_database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[4]
INIT_SCRIPT = ROOT / "deploy/postgres/app-role.sh"


def _libpq_env(url: str) -> dict[str, str]:
    """PGHOST/PGPORT for psql from the test server's URL (TCP or the embedded server's socket)."""
    parts = urlsplit(url)
    host = parts.hostname or parse_qs(parts.query).get("host", [""])[0]
    env = {"PGHOST": host} if host else {}
    if parts.port:
        env["PGPORT"] = str(parts.port)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return env


def _as(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password)}@{host}"))


def test_the_migrate_job_leaves_the_routers_role_only_appending_to_the_audit_log(
    pg_server_url: str,
) -> None:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    pg_env = services["postgres"]["environment"]
    compose_role = pg_env["POSTGRES_APP_USER"]
    role = f"{compose_role}_{uuid.uuid4().hex[:8]}"  # the test server is shared
    password = "app-pw-" + uuid.uuid4().hex[:6]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DYDX_ROUTER_", "PG"))}
    try:
        with empty_database(pg_server_url, "composerole") as url:
            parts = urlsplit(url)
            init = base | _libpq_env(url)
            init |= {
                "POSTGRES_USER": parts.username or "postgres",
                "POSTGRES_DB": parts.path.lstrip("/"),
                "POSTGRES_APP_USER": role,
                "POSTGRES_APP_PASSWORD": password,
            }
            done = subprocess.run(
                ["sh", str(INIT_SCRIPT)], env=init, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stdout + done.stderr
            # Compose's migrate command, as the owner, for this test's role.
            command = [role if a == compose_role else a for a in services["migrate"]["command"]]
            assert role in command
            done = subprocess.run(
                [sys.executable, "-m", "dydx_router.cli", *command],
                env=base | {"DATABASE_URL": url},
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            asyncio.run(_only_appends(_as(url, role, password)))
    finally:
        asyncio.run(admin_sql(pg_server_url, f'DROP ROLE IF EXISTS "{role}"'))


async def _only_appends(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        assert await conn.fetchval("SELECT current_user") != "postgres"
        await conn.execute(
            "INSERT INTO audit_log (actor, action, target) VALUES ('cli', 'api_key_created', 'k')"
        )
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0  # the service's tables
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            # Refused by privilege, before any trigger: "permission denied".
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
                await conn.execute(statement)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.execute("TRUNCATE audit_log")
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1
    finally:
        await conn.close()
