"""Per-key agent limits (``api_key_limits``) and what each key has used (from ``orders``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import asyncpg

from dydx_router.domain.agent_limits import AGENT_LIMIT_NAMES, AgentLimits, AgentUsage
from dydx_router.store.exposure import USAGE
from dydx_router.store.notify import TOPIC_AGENT_LIMITS, notify

_COLUMNS = ", ".join(AGENT_LIMIT_NAMES)

# The day's notional at the stored price (a market order's worst price) and the open orders,
# over the key's orders of the day or still open (ix_orders_api_key_id_created_at_id).


def _limits(row: asyncpg.Record) -> AgentLimits:
    markets = row["allowed_markets"]
    return AgentLimits(
        max_order_notional=row["max_order_notional"],
        max_daily_notional=row["max_daily_notional"],
        max_open_orders=row["max_open_orders"],
        allowed_markets=None if markets is None else frozenset(markets),
    )


class AgentLimitsRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def all(self) -> dict[uuid.UUID, AgentLimits]:
        rows = await self._conn.fetch(f"SELECT api_key_id, {_COLUMNS} FROM api_key_limits")
        return {r["api_key_id"]: _limits(r) for r in rows}

    async def get(self, key_id: uuid.UUID) -> AgentLimits:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM api_key_limits WHERE api_key_id = $1", key_id
        )
        return AgentLimits() if row is None else _limits(row)

    async def put(
        self, key_id: uuid.UUID, limits: AgentLimits, updated_by: uuid.UUID | None
    ) -> None:
        """Replace the key's limits (every replica reloads at commit)."""
        markets = limits.allowed_markets
        await self._conn.execute(
            f"INSERT INTO api_key_limits (api_key_id, updated_by, {_COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (api_key_id) DO UPDATE SET "
            "max_order_notional = EXCLUDED.max_order_notional, "
            "max_daily_notional = EXCLUDED.max_daily_notional, "
            "max_open_orders = EXCLUDED.max_open_orders, "
            "allowed_markets = EXCLUDED.allowed_markets, "
            "updated_by = EXCLUDED.updated_by, updated_at = now()",
            key_id,
            updated_by,
            limits.max_order_notional,
            limits.max_daily_notional,
            limits.max_open_orders,
            None if markets is None else sorted(markets),
        )
        await notify(self._conn, TOPIC_AGENT_LIMITS)

    async def delete(self, key_id: uuid.UUID) -> bool:
        deleted = await self._conn.fetchval(
            "DELETE FROM api_key_limits WHERE api_key_id = $1 RETURNING api_key_id", key_id
        )
        await notify(self._conn, TOPIC_AGENT_LIMITS)
        return deleted is not None

    async def usage(self, key_id: uuid.UUID, day_start: datetime) -> AgentUsage:
        row = await self._conn.fetchrow(USAGE, key_id, day_start)
        return AgentUsage(Decimal(row["daily"]), int(row["open"]))
