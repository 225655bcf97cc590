"""Stored orders for readers that must never write (the audit): one connection whose every
transaction is read only (``default_transaction_read_only``), so a write fails in PostgreSQL
itself (SQLSTATE 25006) whatever the code above asks (``service.ports.StoredOrders``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Self

import asyncpg

from dydx_router.domain.order import Order
from dydx_router.store.database import connect
from dydx_router.store.order_rows import order_from_row


class ReadOnlyOrders:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, url: str, *, connect_timeout: float = 5.0) -> Self:
        conn = await connect(
            url,
            timeout=connect_timeout,
            command_timeout=60,
            server_settings={
                "default_transaction_read_only": "on",
                "application_name": "dydx-router audit",
            },
        )
        return cls(conn)

    async def pages(self, since: datetime | None, page_size: int) -> AsyncIterator[Sequence[Order]]:
        """Orders created at or after ``since``, oldest first, ``page_size`` at a time (keyset
        on (created_at, id), each page its own read-only statement)."""
        after: tuple[Any, Any] | None = None
        while True:
            where: list[str] = []
            args: list[Any] = []
            if since is not None:
                args.append(since)
                where.append(f"created_at >= ${len(args)}")
            if after is not None:
                args.extend(after)
                where.append(f"(created_at, id) > (${len(args) - 1}, ${len(args)})")
            args.append(page_size)
            sql = "SELECT * FROM orders"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += f" ORDER BY created_at, id LIMIT ${len(args)}"
            async with self.conn.transaction(readonly=True):
                rows = await self.conn.fetch(sql, *args)
            if not rows:
                return
            yield [order_from_row(r) for r in rows]
            if len(rows) < page_size:
                return
            after = (rows[-1]["created_at"], rows[-1]["id"])

    async def aclose(self) -> None:
        await self.conn.close()
