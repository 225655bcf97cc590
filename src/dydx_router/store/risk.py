"""Risk limits (``risk_limits``) and the open-order exposure the pre-trade check needs."""

from __future__ import annotations

import uuid

import asyncpg

from dydx_router.domain.market import Side
from dydx_router.domain.risk import GLOBAL, LIMIT_NAMES, OpenOrder, RiskLimits, RiskPolicy
from dydx_router.store.notify import TOPIC_RISK, notify
from dydx_router.store.orders import _FINAL_SQL

_COLUMNS = ", ".join(LIMIT_NAMES)


def _limits(row: asyncpg.Record) -> RiskLimits:
    return RiskLimits(**{name: row[name] for name in LIMIT_NAMES})


class RiskRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def policy(self) -> RiskPolicy:
        rows = await self._conn.fetch(f"SELECT scope, {_COLUMNS} FROM risk_limits ORDER BY scope")
        by_scope = {r["scope"]: _limits(r) for r in rows}
        configured = GLOBAL in by_scope
        return RiskPolicy(
            global_limits=by_scope.pop(GLOBAL, RiskLimits()),
            markets=tuple(sorted(by_scope.items())),
            configured=configured,
        )

    async def put(self, scope: str, limits: RiskLimits, updated_by: uuid.UUID | None) -> None:
        values = [getattr(limits, name) for name in LIMIT_NAMES]
        placeholders = ", ".join(f"${i}" for i in range(3, 3 + len(values)))
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in LIMIT_NAMES)
        await self._conn.execute(
            f"INSERT INTO risk_limits (scope, updated_by, {_COLUMNS}) "
            f"VALUES ($1, $2, {placeholders}) ON CONFLICT (scope) DO UPDATE SET {updates}, "
            "updated_by = EXCLUDED.updated_by, updated_at = now()",
            scope,
            updated_by,
            *values,
        )
        await notify(self._conn, TOPIC_RISK)

    async def delete(self, scope: str) -> bool:
        deleted = await self._conn.fetchval(
            "DELETE FROM risk_limits WHERE scope = $1 RETURNING scope", scope
        )
        await notify(self._conn, TOPIC_RISK)
        return deleted is not None

    async def open_subaccounts(self, address: str) -> list[int]:
        """The subaccounts of ``address`` with a non-final order (the status stream follows
        them, workers/follow.py)."""
        rows = await self._conn.fetch(
            "SELECT DISTINCT subaccount_number FROM orders "
            f"WHERE address = $1 AND status NOT IN ({_FINAL_SQL})",
            address,
        )
        return [int(r["subaccount_number"]) for r in rows]

    async def open_orders(self, address: str) -> list[OpenOrder]:
        """Every non-final order of ``address`` (served by the partial index ``ix_orders_open``)."""
        rows = await self._conn.fetch(
            "SELECT subaccount_number, market, side, size - filled_size AS remaining "
            f"FROM orders WHERE address = $1 AND status NOT IN ({_FINAL_SQL})",
            address,
        )
        return [
            OpenOrder(r["subaccount_number"], r["market"], Side(r["side"]), r["remaining"])
            for r in rows
        ]
