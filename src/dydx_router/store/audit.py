"""The audit log: every admin action, append-only, written in the action's own transaction."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from dydx_router.domain.access import Actor, AuditEntry


class AuditRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def record(
        self, actor: Actor, action: str, target: str | None = None, **details: Any
    ) -> None:
        await self._conn.execute(
            "INSERT INTO audit_log (actor_key_id, actor, action, target, details) "
            "VALUES ($1, $2, $3, $4, $5)",
            actor.key_id,
            actor.name,
            action,
            target,
            details,
        )

    async def recent(self, *, limit: int = 100, before_id: int | None = None) -> list[AuditEntry]:
        rows = await self._conn.fetch(
            "SELECT id, at, actor_key_id, actor, action, target, details FROM audit_log "
            "WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
            before_id,
            limit,
        )
        return [AuditEntry(**dict(r)) for r in rows]

    async def order_cancel_reason(
        self, actor: Actor, order_ids: list[uuid.UUID], reason: str
    ) -> None:
        """The caller's reason for canceling these orders: stored with each order, on the order
        events this transaction wrote (the CANCEL_REQUESTED one, written before the reason was
        known), and in the log. Call in the transaction that marks them CANCEL_REQUESTED."""
        await self._conn.execute(
            "UPDATE orders SET cancel_reason = $2 WHERE id = ANY($1::uuid[])", order_ids, reason
        )
        # Only this transaction's rows: uncommitted, so no reader has seen them yet.
        await self._conn.execute(
            "UPDATE events SET payload = payload || jsonb_build_object('cancel_reason', $2::text) "
            "WHERE id IS NULL AND order_id = ANY($1::uuid[]) AND xmin = pg_current_xact_id()::xid",
            order_ids,
            reason,
        )
        target = str(order_ids[0]) if len(order_ids) == 1 else None
        await self.record(
            actor,
            "order_cancel_requested",
            target,
            reason=reason,
            order_ids=[str(i) for i in order_ids],
        )
