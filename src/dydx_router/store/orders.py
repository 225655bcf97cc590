"""The orders repository: plain SQL over one asyncpg connection owned by the unit of work.

Every status change writes one ``order_status_history`` row in the same transaction as the update,
and the update is conditional on the status the caller saw, so concurrent writers cannot both win.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import asyncpg

from dydx_router.domain.agent_limits import AgentUsage
from dydx_router.domain.errors import ConcurrentUpdate, DuplicateOrder, OrderNotFound
from dydx_router.domain.order import (
    FINAL_STATUSES,
    Order,
    OrderStatus,
    StatusChange,
    check_transition,
)
from dydx_router.domain.queries import Cursor, OrderFilter
from dydx_router.domain.risk import Exposure
from dydx_router.store.exposure import locked_agent_usage, locked_exposure
from dydx_router.store.order_rows import COLUMNS, INSERT, apply_fields, order_from_row, order_params
from dydx_router.store.paging import Listing

# What a read selects: the inserted columns and those set later.
_READ = f"{COLUMNS}, cancel_reason, created_at, updated_at"

# Client ids taken from the sequence per round trip (see ClientIds).
CLIENT_ID_BLOCK = 64
# Columns a transition or an update may set besides the status.
_UPDATABLE = frozenset(
    {
        "filled_size",
        "average_fill_price",
        "tx_hash",
        "signed_tx",
        "error_codespace",
        "error_code",
        "error_log",
        "good_til_block",
        "good_til_block_time",
    }
)


# Literal, so the planner can use the partial index ix_orders_open.
_FINAL_SQL = ", ".join(f"'{s.value}'" for s in sorted(FINAL_STATUSES))


class ClientIds:
    """Chain client ids from ``order_client_id_seq``, fetched a block at a time.

    One ``nextval`` round trip per order cost as much as the insert itself; a block of values
    from the same sequence keeps ids unique across replicas and restarts (ids a process never
    used are skipped, which the uint32 space affords). Shared by every unit of work of a process.
    """

    def __init__(self, block: int = CLIENT_ID_BLOCK) -> None:
        self._block = block
        self._free: list[int] = []

    def take(self) -> int | None:
        """An id from the current block, or None when it is used up (then ``next``)."""
        return self._free.pop() if self._free else None

    async def next(self, conn: asyncpg.Connection) -> int:
        if not self._free:
            rows = await conn.fetch(
                "SELECT nextval('order_client_id_seq') FROM generate_series(1, $1)", self._block
            )
            # Concurrent refills both land here: every value is still unique.
            self._free.extend(r[0] for r in reversed(rows))
        return self._free.pop()


class OrderRepository:
    def __init__(self, conn: asyncpg.Connection, client_ids: ClientIds | None = None) -> None:
        self._conn = conn
        self._client_ids = client_ids

    async def next_client_id(self) -> int:
        if self._client_ids is not None:
            return await self._client_ids.next(self._conn)
        value: int = await self._conn.fetchval("SELECT nextval('order_client_id_seq')")
        return value

    async def add(
        self, order: Order, *, reason: str = "accepted", height: int | None = None
    ) -> None:
        """Insert a new order and its first history row (from nothing to its status)."""
        try:
            row = await self._conn.fetchrow(INSERT, *order_params(order), reason, height)
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateOrder(
                "an order with this chain OrderId or idempotency key already exists",
                constraint=exc.constraint_name,
            ) from exc
        order.created_at, order.updated_at = row["created_at"], row["updated_at"]

    async def locked_exposure(self, order: Order) -> Exposure:
        """store/exposure.py: the committed open orders of the order's market, locked."""
        return await locked_exposure(self._conn, order)

    async def locked_agent_usage(self, key: uuid.UUID, day: datetime) -> AgentUsage:
        """store/exposure.py: the key's committed usage, locked."""
        return await locked_agent_usage(self._conn, key, day)

    async def get(self, order_id: uuid.UUID, *, with_history: bool = True) -> Order:
        row = await self._conn.fetchrow(
            f"SELECT {_READ} FROM orders WHERE id = $1",
            order_id,
        )
        if row is None:
            raise OrderNotFound(f"order {order_id} not found", order_id=str(order_id))
        order = order_from_row(row)
        if with_history:
            order.history = await self.history(order_id)
        return order

    async def get_for_update(self, order_id: uuid.UUID) -> Order:
        """Read and lock the row until the transaction ends."""
        row = await self._conn.fetchrow(
            f"SELECT {_READ} FROM orders WHERE id = $1 FOR UPDATE",
            order_id,
        )
        if row is None:
            raise OrderNotFound(f"order {order_id} not found", order_id=str(order_id))
        return order_from_row(row)

    async def find_by_idempotency_key(self, api_key_id: uuid.UUID | None, key: str) -> Order | None:
        row = await self._conn.fetchrow(
            f"SELECT {_READ} FROM orders "
            "WHERE api_key_id IS NOT DISTINCT FROM $1 AND idempotency_key = $2",
            api_key_id,
            key,
        )
        return None if row is None else order_from_row(row)

    async def find_by_indexer_ids(self, ids: list[uuid.UUID]) -> list[Order]:
        """Our orders among the indexer order ids ``ids``."""
        rows = await self._conn.fetch(
            f"SELECT {_READ} FROM orders WHERE indexer_order_id = ANY($1::uuid[])",
            ids,
        )
        return [order_from_row(r) for r in rows]

    async def history(self, order_id: uuid.UUID) -> list[StatusChange]:
        rows = await self._conn.fetch(
            "SELECT from_status, to_status, reason, chain_height, at FROM order_status_history "
            "WHERE order_id = $1 ORDER BY id",
            order_id,
        )
        return [
            StatusChange(
                from_status=None if r["from_status"] is None else OrderStatus(r["from_status"]),
                to_status=OrderStatus(r["to_status"]),
                reason=r["reason"],
                chain_height=r["chain_height"],
                at=r["at"],
            )
            for r in rows
        ]

    async def transition(
        self,
        order: Order,
        new_status: OrderStatus,
        *,
        reason: str,
        height: int | None = None,
        **fields: Any,
    ) -> None:
        """Move ``order`` from its current status to ``new_status``, with one history row.

        Raises IllegalTransition for a move the lifecycle table forbids, ConcurrentUpdate if the
        stored status is no longer ``order.status``.
        """
        check_transition(order.status, new_status)
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        names = list(fields)
        sets = ", ".join(f"{name} = ${i + 5}" for i, name in enumerate(names))
        # The update and its history row in one statement (one round trip, atomic on its own).
        sql = (
            "WITH u AS (UPDATE orders SET status = $1, updated_at = now()"
            + (", " + sets if sets else "")
            + " WHERE id = $2 AND status = $3 RETURNING updated_at), "
            "h AS (INSERT INTO order_status_history (order_id, from_status, to_status, reason, "
            "chain_height) SELECT $2, $3, $1, $4, "
            f"${len(names) + 5}::bigint FROM u) SELECT updated_at FROM u"
        )
        updated = await self._conn.fetchval(
            sql,
            new_status.value,
            order.id,
            order.status.value,
            reason,
            *fields.values(),
            height,
        )
        if updated is None:
            raise ConcurrentUpdate(
                f"order {order.id} is no longer {order.status}", order_id=str(order.id)
            )
        old = order.status
        order.status = new_status
        order.updated_at = updated
        apply_fields(order, fields)
        if order.history:
            order.history.append(StatusChange(old, new_status, reason, height, updated))

    async def update(self, order: Order, **fields: Any) -> None:
        """Set non-status fields (fills, tx hash) without a transition."""
        unknown = set(fields) - _UPDATABLE
        if unknown or not fields:
            raise ValueError(f"not updatable: {sorted(unknown) or 'nothing'}")
        sets = ", ".join(f"{name} = ${i + 2}" for i, name in enumerate(fields))
        await self._conn.execute(
            f"UPDATE orders SET {sets}, updated_at = now() WHERE id = $1",
            order.id,
            *fields.values(),
        )
        apply_fields(order, fields)

    async def store_signed(self, order: Order, signed_tx: bytes, tx_hash: str) -> bool:
        """Store the tx about to be broadcast while the order is still ``order.status``."""
        done = await self._conn.fetchval(
            "UPDATE orders SET signed_tx = $2, tx_hash = $3, updated_at = now() "
            "WHERE id = $1 AND status = $4 RETURNING true",
            order.id,
            signed_tx,
            tx_hash,
            order.status.value,
        )
        if done:
            order.signed_tx, order.tx_hash = signed_tx, tx_hash
        return bool(done)

    async def search(
        self, filters: OrderFilter, *, limit: int = 50, cursor: Cursor | None = None
    ) -> list[Order]:
        """Newest first, keyset-paginated on (created_at, id)."""
        q = Listing()
        arg, where = q.arg, q.where
        if filters.market is not None:
            where.append(f"market = {arg(filters.market)}")
        if filters.status is not None:
            where.append(f"status = {arg(filters.status.value)}")
        if filters.statuses is not None:
            where.append(f"status = ANY({arg([st.value for st in filters.statuses])}::text[])")
        if filters.client_order_id is not None:
            where.append(f"client_order_id = {arg(filters.client_order_id)}")
        if filters.side is not None:
            where.append(f"side = {arg(filters.side.value)}")
        if filters.since is not None:
            where.append(f"created_at >= {arg(filters.since)}")
        if filters.until is not None:
            where.append(f"created_at < {arg(filters.until)}")
        if filters.subaccounts is not None:
            owners = [a for a, _ in filters.subaccounts]
            numbers = [n for _, n in filters.subaccounts]
            where.append(
                f"(address, subaccount_number) IN (SELECT * FROM unnest({arg(owners)}::text[], "
                f"{arg(numbers)}::int[]))"
            )
        if filters.placed_by is not None:
            where.append(f"api_key_id IS NOT DISTINCT FROM {arg(filters.placed_by[0])}::uuid")
        sql = q.newest_first(
            f"SELECT {_READ} FROM orders",
            limit=limit,
            cursor=None if cursor is None else (cursor.created_at, cursor.id),
        )
        return [order_from_row(r) for r in await self._conn.fetch(sql, *q.args)]

    async def non_final(
        self,
        *,
        limit: int = 1000,
        statuses: Collection[OrderStatus] | None = None,
        expired_before_block: int | None = None,
        after: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[Order]:
        """Orders whose outcome is still open, oldest first (for the reconciler and status sync).

        ``statuses``: only these; ``expired_before_block``: only short-term orders (not PENDING)
        whose good-til-block is below it. Filtering here, not in Python, matters with thousands
        of resting orders: they would be read and decoded on every block. ``after``: the
        (created_at, id) of the last order of the previous page (keyset paging).
        """
        where = [f"status NOT IN ({_FINAL_SQL})"]
        args: list[Any] = [limit]
        if statuses is not None:
            args.append([s.value for s in statuses])
            where.append(f"status = ANY(${len(args)}::text[])")
        if expired_before_block is not None:
            args.append(expired_before_block)
            where.append(
                f"order_flags = 0 AND status <> 'PENDING' AND good_til_block < ${len(args)}"
            )
        if after is not None:
            args += [after[0], after[1]]
            where.append(f"(created_at, id) > (${len(args) - 1}, ${len(args)})")
        rows = await self._conn.fetch(
            f"SELECT {_READ} FROM orders "
            f"WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT $1",
            *args,
        )
        return [order_from_row(r) for r in rows]
