"""``dydx-router doctor``: check a deployment's configuration against what it names.

One row per check: the configuration and the trading key, the database (reachable, version,
migrated to head), the placements (no order left PENDING: docs/orders.md), each node endpoint
(reachable, chain id, height fresh), each indexer endpoint (reachable, height fresh, not far
behind the nodes), the wallet (address, collateral on the indexer) and the risk limits (set
where they are required). Every outbound call has the timeout of its setting; a failing check
never stops the others. Read only.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dydx_router.config import Network, NodeEndpoint, Settings

# The address of deploy/devnet/demo.mnemonic, a key published in this repository for the
# compose devnet demo: anyone can sign with it, so it must never hold funds elsewhere.
DEMO_ADDRESS = "dydx1gr9pzv0gpz2tzs5w7ulh7xlg43jzyhgp3my9sx"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


class CheckFailed(Exception):
    """A check's failure, with the one line the operator reads."""


def _age(at: datetime) -> float:
    return max(0.0, (datetime.now(UTC) - at).total_seconds())


async def _check(name: str, probe: Callable[[], Awaitable[str]], limit_s: float) -> Check:
    try:
        async with asyncio.timeout(limit_s):
            return Check(name, True, await probe())
    except CheckFailed as exc:
        return Check(name, False, str(exc))
    except TimeoutError:
        return Check(name, False, f"no answer within {limit_s:g} s")
    except Exception as exc:  # unreachable, refused, malformed: reported, never raised
        return Check(name, False, f"{type(exc).__name__}: {exc}"[:300])


async def check_database(settings: Settings) -> str:
    from alembic.script import ScriptDirectory

    from dydx_router.store.database import connect
    from dydx_router.store.migrate import alembic_config

    url = settings.require_database_url()
    conn = await connect(url, timeout=settings.db_timeout_s)
    try:
        version = int(await conn.fetchval("SHOW server_version_num"))
        exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
        current = await conn.fetchval("SELECT version_num FROM alembic_version") if exists else None
        # Whether a commit waits for a standby: what a failover keeps (docs/scaling.md).
        standbys = await conn.fetchval("SHOW synchronous_standby_names")
    finally:
        await conn.close()
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    if version < 150000:
        raise CheckFailed(f"PostgreSQL {version // 10000}: 15 or later is required")
    if current != head:
        raise CheckFailed(f"schema at {current or 'nothing'}, head is {head}: run migrate up")
    return (
        f"PostgreSQL {version // 10000}, schema at head ({head}), "
        f"synchronous standbys: {standbys or 'none'}"
    )


def stuck_after_s(settings: Settings) -> float:
    """Age past which a PENDING order is stuck: a placement records the chain's answer within
    its broadcast timeout, and the reconciler settles a row a crash left PENDING within a few of
    its intervals (docs/reliability.md)."""
    return max(60.0, 10 * settings.reconcile_interval_s, 4 * settings.broadcast_timeout_s)


async def check_placements(settings: Settings) -> str:
    """Orders still PENDING long after they were stored: no placement or reconciler is settling
    them, and every retry with their Idempotency-Key answers 409 idempotency_in_flight."""
    import asyncpg

    from dydx_router.store.database import asyncpg_dsn

    limit = stuck_after_s(settings)
    conn = await asyncpg.connect(
        asyncpg_dsn(settings.require_database_url()), timeout=settings.db_timeout_s
    )
    try:
        # ix_orders_status_created_at_id: reads the PENDING rows only.
        row = await conn.fetchrow(
            "SELECT count(*) AS pending, "
            "count(*) FILTER (WHERE created_at < now() - make_interval(secs => $1)) AS stuck, "
            "min(created_at) AS oldest FROM orders WHERE status = 'PENDING'",
            limit,
        )
    finally:
        await conn.close()
    if row["stuck"]:
        raise CheckFailed(
            f"{row['stuck']} order(s) PENDING for over {limit:g} s (oldest "
            f"{_age(row['oldest']):.0f} s): is the service running? retries with their "
            "Idempotency-Key answer 409 idempotency_in_flight until the reconciler settles them"
        )
    return f"{row['pending']} order(s) being placed, none PENDING for over {limit:g} s"


async def check_node(settings: Settings, endpoint: NodeEndpoint) -> tuple[str, int]:
    import grpc
    from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
    from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc

    channel = (
        grpc.aio.secure_channel(endpoint.target, grpc.ssl_channel_credentials())
        if endpoint.tls
        else grpc.aio.insecure_channel(endpoint.target)
    )
    try:
        resp = await tm_grpc.ServiceStub(channel).GetLatestBlock(
            tm_query.GetLatestBlockRequest(), timeout=float(settings.node_timeout_s)
        )
    except grpc.aio.AioRpcError as exc:
        raise CheckFailed(f"unreachable: {exc.code().name}: {exc.details()}") from None
    finally:
        await channel.close()
    header = resp.sdk_block.header if resp.HasField("sdk_block") else resp.block.header
    height, age = int(header.height), _age(header.time.ToDatetime(tzinfo=UTC))
    if header.chain_id != settings.effective_chain_id:
        raise CheckFailed(f"chain id {header.chain_id!r}, expected {settings.effective_chain_id!r}")
    if age > settings.ready_max_block_age_s:
        raise CheckFailed(f"height {height} is {age:.0f} s old (stalled or not synced)")
    return f"chain {header.chain_id}, height {height} ({age:.1f} s old)", height


async def check_indexer(settings: Settings, base: str, node_height: int | None) -> str:
    import httpx

    async with httpx.AsyncClient(timeout=float(settings.indexer_timeout_s)) as client:
        resp = await client.get(f"{base}/v4/height")
    if resp.status_code != 200:
        raise CheckFailed(f"GET /v4/height answered {resp.status_code}")
    body = resp.json()
    height = int(body["height"])
    age = _age(datetime.fromisoformat(body["time"].replace("Z", "+00:00")))
    if age > settings.ready_max_block_age_s:
        raise CheckFailed(f"height {height} is {age:.0f} s old")
    if node_height is not None and node_height - height > settings.ready_max_indexer_lag_blocks:
        raise CheckFailed(f"height {height} trails the nodes ({node_height})")
    return f"height {height} ({age:.1f} s old)"


def wallet_address(settings: Settings) -> str:
    from dydx_router.chain.wallet import Wallet, _private_key_from_mnemonic
    from dydx_router.custody import private_key_from_hex

    kind, secret = settings.trading_key()
    if kind == "mnemonic":
        key = _private_key_from_mnemonic(secret.get_secret_value())
    else:
        key = private_key_from_hex(secret, "DYDX_ROUTER_PRIVATE_KEY_HEX")
    return Wallet(key).address


async def check_wallet(settings: Settings, address: str) -> str:
    from dydx_router.chain.errors import IndexerNotFound
    from dydx_router.chain.indexer import IndexerClient

    if address == DEMO_ADDRESS and settings.network is not Network.DEVNET:
        raise CheckFailed(f"{address} is the public demo key: never use it off the devnet")
    number = settings.subaccount_number
    indexer = IndexerClient(settings.indexers, timeout=float(settings.indexer_timeout_s))
    try:
        sub = await indexer.subaccount(address, number)
    except IndexerNotFound:
        raise CheckFailed(f"{address}/{number}: no subaccount (deposit USDC first)") from None
    finally:
        await indexer.aclose()
    if sub.free_collateral <= 0:
        raise CheckFailed(f"{address}/{number}: no free collateral (equity {sub.equity})")
    return f"{address}/{number}: equity {sub.equity}, free collateral {sub.free_collateral} USDC"


async def check_risk(settings: Settings) -> str:
    from dydx_router.store.database import connect
    from dydx_router.store.risk import RiskRepository

    url = settings.require_database_url()
    conn = await connect(url, timeout=settings.db_timeout_s)
    try:
        policy = await RiskRepository(conn).policy()
        state = await conn.fetchval("SELECT state FROM trading_state WHERE id = 1")
    finally:
        await conn.close()
    trading = f"trading {state or 'ACTIVE'}"
    if policy.configured:
        return f"global limits set, {len(policy.markets)} market override(s), {trading}"
    if settings.risk_limits_required:
        raise CheckFailed(
            "global limits not set: only reduce-only orders are accepted until an admin sets "
            "them (PUT /v1/admin/risk-limits/global)"
        )
    return f"global limits not set (not required on {settings.network.value}), {trading}"


async def run_checks(settings: Settings) -> list[Check]:
    loaded = f"network {settings.network.value}, chain {settings.effective_chain_id}"
    checks = [Check("configuration", True, loaded)]
    try:
        address: str | None = wallet_address(settings)
        checks.append(Check("trading key", True, f"address {address}"))
    except Exception as exc:  # ConfigError, InvalidMnemonic: messages never hold the key
        address = None
        checks.append(Check("trading key", False, str(exc)))
    db_timeout = settings.db_timeout_s + 1
    database = functools.partial(check_database, settings)
    checks.append(await _check("database", database, db_timeout))
    if checks[-1].ok:  # an unreachable or unmigrated database is one row, not two
        placements = functools.partial(check_placements, settings)
        checks.append(await _check("placements", placements, db_timeout))
    heights: list[int] = []
    node_timeout = float(settings.node_timeout_s) + 1

    async def node(ep: NodeEndpoint) -> str:
        detail, height = await check_node(settings, ep)
        heights.append(height)
        return detail

    for ep in settings.nodes:
        checks.append(await _check(f"node {ep}", functools.partial(node, ep), node_timeout))
    best = max(heights, default=None)
    indexer_timeout = float(settings.indexer_timeout_s) + 1
    for base in settings.indexers:
        probe = functools.partial(check_indexer, settings, base, best)
        checks.append(await _check(f"indexer {base}", probe, indexer_timeout))
    if address is not None:
        # a permissioned trading key trades for the owner, whose subaccount holds the collateral
        wallet = functools.partial(check_wallet, settings, settings.owner_address or address)
        checks.append(await _check("wallet", wallet, indexer_timeout * 2))
    risk = functools.partial(check_risk, settings)
    checks.append(await _check("risk limits", risk, db_timeout))
    return checks


def render(checks: list[Check], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="dydx-router doctor")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for c in checks:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[bold red]FAIL[/]", c.detail)
    (console or Console()).print(table)
