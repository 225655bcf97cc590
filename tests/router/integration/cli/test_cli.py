"""The `dydx-router` command as a user runs it: real processes, real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr
from tests.fixtures.db import empty_database

from dydx_router.store.database import asyncpg_dsn
from dydx_router.store.embedded import EmbeddedPostgres

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "dydx_router.cli"]


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    full_env.pop("DATABASE_URL", None)
    full_env.update(env)
    return subprocess.run(CLI + args, env=full_env, capture_output=True, text=True, timeout=120)


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DYDX_ROUTER_NODE_ENDPOINTS": "not a url"}, "DYDX_ROUTER_NODE_ENDPOINTS"),
        ({"DYDX_ROUTER_NETWORK": "moonnet"}, "DYDX_ROUTER_NETWORK"),
        ({}, "DATABASE_URL"),
    ],
)
def test_serve_with_a_bad_setting_exits_with_one_line(env: dict[str, str], named: str) -> None:
    result = run(["serve"], **env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: configuration: {named}:")


def _migrate_cycle(url: str) -> None:
    for args in (["migrate", "up"], ["migrate", "down", "base"], ["migrate", "up"]):
        result = run(args, DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
    assert {"orders", "order_status_history", "api_keys"} <= asyncio.run(_tables(url))


def test_migrate_up_down_up_on_the_test_server(pg_server_url: str) -> None:
    with empty_database(pg_server_url, "cli") as url:
        _migrate_cycle(url)


def test_migrate_up_down_up_on_an_embedded_server(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    try:
        _migrate_cycle(server.start())
    finally:
        server.stop()


def test_api_keys_create_list_revoke(database_url: str) -> None:
    created = run(
        ["api-keys", "create", "--name", "bot", "--scopes", "read,trade"], DATABASE_URL=database_url
    )
    assert created.returncode == 0, created.stderr
    fields = dict(line.split(":", 1) for line in created.stdout.strip().splitlines())
    key_id, key = fields["id"].strip(), fields["key"].strip()
    assert key.startswith("dxr_") and len(key) > 40
    listed = run(["api-keys", "list"], DATABASE_URL=database_url)
    assert key_id in listed.stdout and key not in listed.stdout and "active" in listed.stdout
    bad = run(
        ["api-keys", "create", "--name", "x", "--scopes", "read,root"], DATABASE_URL=database_url
    )
    assert bad.returncode == 2 and "scopes must be" in bad.stderr
    revoked = run(["api-keys", "revoke", key_id], DATABASE_URL=database_url)
    assert revoked.returncode == 0
    assert "revoked" in run(["api-keys", "list"], DATABASE_URL=database_url).stdout


def test_keys_address_prompts_on_stderr_and_prints_only_the_address() -> None:
    """``OWNER=$(dydx-router keys address)`` (docs/permissioned-keys.md): the mnemonic's prompt
    goes to stderr, so the captured output is the address alone."""
    from dydx_router.chain.wallet import Wallet

    mnemonic = "legal winner thank year wave sausage worth useful legal winner thank yellow"
    address = Wallet.from_mnemonic(SecretStr(mnemonic)).address
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DYDX_ROUTER_")}
    r = subprocess.run(
        [*CLI, "keys", "address"],
        env=full_env,
        input=mnemonic + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == address + "\n"
    assert "mnemonic" in r.stderr and "legal" not in r.stdout + r.stderr
