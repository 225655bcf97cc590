"""The kill switch's one row (``trading_state``, id = 1)."""

from __future__ import annotations

import uuid

import asyncpg

from dydx_router.domain.risk import TradingState, TradingStateRecord
from dydx_router.store.notify import TOPIC_TRADING_STATE, notify


class TradingStateRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self) -> TradingStateRecord:
        row = await self._conn.fetchrow(
            "SELECT state, reason, updated_at, updated_by FROM trading_state WHERE id = 1"
        )
        if row is None:  # the migration inserts the row; only a hand-edited database lacks it
            raise LookupError("the trading_state row is missing: run the migrations")
        return TradingStateRecord(
            TradingState(row["state"]), row["reason"], row["updated_at"], row["updated_by"]
        )

    async def set(
        self, state: TradingState, reason: str, updated_by: uuid.UUID | None
    ) -> TradingStateRecord:
        row = await self._conn.fetchrow(
            "UPDATE trading_state SET state = $1, reason = $2, updated_by = $3, updated_at = now() "
            "WHERE id = 1 RETURNING state, reason, updated_at, updated_by",
            state.value,
            reason,
            updated_by,
        )
        if row is None:
            raise LookupError("the trading_state row is missing: run the migrations")
        await notify(self._conn, TOPIC_TRADING_STATE)
        return TradingStateRecord(
            TradingState(row["state"]), row["reason"], row["updated_at"], row["updated_by"]
        )
