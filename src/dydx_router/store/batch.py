"""Group commit for placements: the PENDING rows and the broadcast outcomes of concurrent
placements, written a batch per statement.

A placement writes twice: its PENDING row (committed before the broadcast: write-ahead) and its
outcome. Under load every write was one round trip and one commit; here the writes that arrive
while a batch is being written wait for the next batch, which goes out as soon as the previous
one has committed. There is no timer: a lone request is written at once (no added latency), and
under load one statement and one commit carry many orders (PostgreSQL's per-statement and
per-commit costs, and ours, are paid once per batch).

The status stream's plain status moves (``OrderSync.apply_seen``) go through the same
compare-and-set outcome statement.

Each write still resolves only once *its* rows are committed, so nothing is broadcast before its
row is durable. Rows are independent inside a batch: an insert that collides with an existing
order (``ON CONFLICT DO NOTHING``) fails alone with :class:`DuplicateOrder`, and an outcome whose
order changed status in the meantime fails alone with :class:`ConcurrentUpdate`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from dydx_router.domain.errors import ConcurrentUpdate, DuplicateOrder
from dydx_router.domain.order import ChainError, Order, OrderStatus, StatusChange, check_transition
from dydx_router.service.ports import DatabaseUnavailable, ExposureGuard
from dydx_router.store.database import is_connection_error
from dydx_router.store.order_rows import COLUMNS, order_params
from dydx_router.store.orders import ClientIds, OrderRepository

# Column types in COLUMNS order, for unnest() of one array per column.
_TYPES = (
    *("uuid", "uuid", "text", "text", "text", "text", "text", "text", "text", "bool", "bool"),
    *("numeric", "numeric", "numeric", "int", "numeric", "numeric", "numeric", "bigint", "int"),
    *("int", "bigint", "timestamptz", "text", "int", "uuid", "text", "numeric", "numeric"),
    *("text", "bytea", "text", "int", "text", "text"),
)
_N = len(_TYPES)
_ARRAYS = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_TYPES))

INSERT_BATCH = (
    f"WITH o AS (INSERT INTO orders ({COLUMNS}) SELECT * FROM unnest({_ARRAYS}) "
    "ON CONFLICT DO NOTHING RETURNING id, status, created_at, updated_at), "
    "r AS (SELECT * FROM unnest("
    f"${_N + 1}::uuid[], ${_N + 2}::text[], ${_N + 3}::bigint[]) AS r(id, reason, height)), "
    "h AS (INSERT INTO order_status_history (order_id, from_status, to_status, reason, "
    "chain_height) SELECT o.id, NULL, o.status, r.reason, r.height FROM o JOIN r ON r.id = o.id) "
    "SELECT id, created_at, updated_at FROM o"
)

# Outcome of a broadcast, or a status move the status stream saw (with the fill figures it
# stated): status (conditional on the one the caller saw, and on the filled size it saw when it
# writes new figures) and the facts; a NULL fact keeps the stored value.
OUTCOME_BATCH = (
    "WITH v AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], "
    "$5::bigint[], $6::text[], $7::bytea[], $8::text[], $9::int[], $10::text[], "
    "$11::numeric[], $12::numeric[], $13::numeric[]) "
    "AS v(id, from_s, to_s, reason, height, tx_hash, signed_tx, ecs, ec, elog, "
    "from_filled, filled, avg_price)), "
    "u AS (UPDATE orders o SET status = v.to_s, updated_at = now(), "
    "tx_hash = COALESCE(v.tx_hash, o.tx_hash), signed_tx = COALESCE(v.signed_tx, o.signed_tx), "
    "error_codespace = CASE WHEN v.ec IS NULL THEN o.error_codespace ELSE v.ecs END, "
    "error_code = COALESCE(v.ec, o.error_code), "
    "error_log = CASE WHEN v.ec IS NULL THEN o.error_log ELSE v.elog END, "
    "filled_size = COALESCE(v.filled, o.filled_size), "
    "average_fill_price = COALESCE(v.avg_price, o.average_fill_price) "
    "FROM v WHERE o.id = v.id AND o.status = v.from_s "
    "AND (v.from_filled IS NULL OR o.filled_size = v.from_filled) "
    "RETURNING o.id, o.updated_at), "
    "h AS (INSERT INTO order_status_history (order_id, from_status, to_status, reason, "
    "chain_height) SELECT v.id, v.from_s, v.to_s, v.reason, v.height FROM v JOIN u ON u.id = v.id) "
    "SELECT id, updated_at FROM u"
)

# Fields an outcome may carry (service/placing.py _record_submission; the fill figures from
# service/sync.py OrderSync.apply_seen).
OUTCOME_FIELDS = frozenset(
    {
        "tx_hash",
        "signed_tx",
        "error_codespace",
        "error_code",
        "error_log",
        "filled_size",
        "average_fill_price",
    }
)

T = TypeVar("T")


class _Batcher(Generic[T]):
    """Writes items a batch at a time: whatever queued while the previous batch was written."""

    def __init__(self, write: Callable[[list[T]], Awaitable[list[BaseException | None]]]) -> None:
        self._write = write
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._running is None:
            self._running = asyncio.create_task(self._drain())
        await future

    async def _write_isolated(self, items: list[T]) -> list[BaseException | None]:
        """The batch in one statement; if the statement itself fails (not the connection), each
        item alone, so that one bad row fails only its own write."""
        try:
            return await self._write(items)
        except Exception as e:
            if len(items) == 1 or is_connection_error(e):
                raise
        results: list[BaseException | None] = []
        for item in items:
            try:
                results += await self._write([item])
            except Exception as e:
                if is_connection_error(e):
                    raise
                results.append(e)
        return results

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._write_isolated([item for item, _ in batch])
                except Exception as e:
                    if is_connection_error(e):
                        e = DatabaseUnavailable(f"the database write failed: {type(e).__name__}")
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(e)
                    continue
                except BaseException as e:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(e)
                    raise
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if result is None:
                        future.set_result(None)
                    else:
                        future.set_exception(result)
        finally:
            self._running = None


@dataclass(frozen=True, slots=True)
class _Insert:
    order: Order
    reason: str
    height: int | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    order: Order
    target: OrderStatus
    reason: str
    height: int | None
    fields: dict[str, Any]


class PlacementWriter:
    """Group-committed writes of placements over a pool (autocommit: one statement per batch)."""

    def __init__(self, pool: Any, client_ids: ClientIds, *, acquire_timeout: float = 5.0) -> None:
        self._pool = pool
        self._client_ids = client_ids
        self._acquire_timeout = acquire_timeout
        self._inserts: _Batcher[_Insert] = _Batcher(self._write_inserts)
        self._outcomes: _Batcher[_Outcome] = _Batcher(self._write_outcomes)

    async def next_client_id(self) -> int:
        taken = self._client_ids.take()
        if taken is not None:
            return taken
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            return await self._client_ids.next(conn)

    async def insert(
        self,
        order: Order,
        *,
        reason: str,
        height: int | None,
        guard: ExposureGuard | None = None,
    ) -> None:
        """Persist a new order and its first history row; returns once committed.

        With a ``guard`` (a limit needs the exposure), alone in a transaction of its own: the
        lock of its (address, subaccount, market), the check against what every replica has
        committed there, the insert, the commit (store/exposure.py). Not group-committed: the
        lock must be held from the check to the commit."""
        if guard is None:
            await self._inserts.submit(_Insert(order, reason, height))
            return
        item = _Insert(order, reason, height)
        try:
            acquire = self._pool.acquire(timeout=self._acquire_timeout)
            async with acquire as conn, conn.transaction():
                await guard(OrderRepository(conn), order)
                (result,) = await self._insert_rows(conn, [item])
        except Exception as e:
            if is_connection_error(e):
                raise DatabaseUnavailable(f"the database write failed: {type(e).__name__}") from e
            raise
        if result is not None:
            raise result

    async def record(
        self,
        order: Order,
        target: OrderStatus,
        *,
        reason: str,
        height: int | None,
        **fields: Any,
    ) -> None:
        """Move ``order`` to ``target`` with the broadcast's facts; ConcurrentUpdate if its stored
        status is no longer ``order.status``."""
        check_transition(order.status, target)
        unknown = set(fields) - OUTCOME_FIELDS
        if unknown:
            raise ValueError(f"not an outcome field: {sorted(unknown)}")
        await self._outcomes.submit(_Outcome(order, target, reason, height, fields))

    async def _write_inserts(self, items: list[_Insert]) -> list[BaseException | None]:
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            return await self._insert_rows(conn, items)

    async def _insert_rows(self, conn: Any, items: list[_Insert]) -> list[BaseException | None]:
        rows = [order_params(i.order) for i in items]
        columns = [list(c) for c in zip(*rows, strict=True)]
        extra = (
            [i.order.id for i in items],
            [i.reason for i in items],
            [i.height for i in items],
        )
        written = await conn.fetch(INSERT_BATCH, *columns, *extra)
        stamps: dict[Any, tuple[datetime, datetime]] = {
            r["id"]: (r["created_at"], r["updated_at"]) for r in written
        }
        out: list[BaseException | None] = []
        for i in items:
            stamp = stamps.get(i.order.id)
            if stamp is None:
                out.append(
                    DuplicateOrder(
                        "an order with this chain OrderId or idempotency key already exists"
                    )
                )
            else:
                i.order.created_at, i.order.updated_at = stamp
                out.append(None)
        return out

    async def _write_outcomes(self, items: list[_Outcome]) -> list[BaseException | None]:
        # One write per order per statement: a second write of the same order (the status
        # stream and the expiry pass about the same order) would join the same row twice. It is
        # answered ConcurrentUpdate, and its caller decides again on the row as it is then.
        first: dict[Any, _Outcome] = {}
        for i in items:
            first.setdefault(i.order.id, i)
        unique = list(first.values())
        written = await self._write_unique_outcomes(unique) if unique else {}
        out: list[BaseException | None] = []
        for i in items:
            if first[i.order.id] is i and i.order.id in written:
                _apply_outcome(i, written[i.order.id])
                out.append(None)
            else:
                out.append(
                    ConcurrentUpdate(
                        f"order {i.order.id} is no longer {i.order.status}",
                        order_id=str(i.order.id),
                    )
                )
        return out

    async def _write_unique_outcomes(self, items: list[_Outcome]) -> dict[Any, datetime]:
        def col(name: str) -> list[Any]:
            return [i.fields.get(name) for i in items]

        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            written = await conn.fetch(
                OUTCOME_BATCH,
                [i.order.id for i in items],
                [i.order.status.value for i in items],
                [i.target.value for i in items],
                [i.reason for i in items],
                [i.height for i in items],
                col("tx_hash"),
                col("signed_tx"),
                col("error_codespace"),
                col("error_code"),
                col("error_log"),
                [i.order.filled_size if _has_figures(i) else None for i in items],
                col("filled_size"),
                col("average_fill_price"),
            )
        return {r["id"]: r["updated_at"] for r in written}


def _has_figures(item: _Outcome) -> bool:
    return "filled_size" in item.fields or "average_fill_price" in item.fields


def _apply_outcome(item: _Outcome, updated: datetime) -> None:
    """Mirror the written outcome on the in-memory order (as OrderRepository.transition does)."""
    order, fields = item.order, item.fields
    for name in ("tx_hash", "signed_tx", "filled_size", "average_fill_price"):
        if fields.get(name) is not None:
            setattr(order, name, fields[name])
    if fields.get("error_code") is not None:
        order.last_error = ChainError(
            fields.get("error_codespace") or "", fields["error_code"], fields.get("error_log") or ""
        )
    old = order.status
    order.status = item.target
    order.updated_at = updated
    if order.history:
        order.history.append(StatusChange(old, item.target, item.reason, item.height, updated))
