"""The event log (``events``, written by triggers, migration 0005) and the fills table.

Sequencing: a trigger inserts an event without its public ``id`` in the writer's transaction.
Transactions commit in any order, so an insertion number cannot be the id a client resumes
from (a reader that saw 11 would never see 10 committed after it). ``sequence`` gives the rows
committed so far their ids, max(id) + 1, 2, ... in insertion order, under a transaction-scoped
advisory lock: every replica may run it, one at a time, and each run commits before the next
starts, so the ids readers can see are always a gap-free prefix.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg
import orjson

from dydx_router.domain.events import Fill, StoredEvent
from dydx_router.domain.queries import FillFilter
from dydx_router.store.paging import Listing

# pg_advisory_xact_lock key of the sequencer ("dxr-evts").
SEQUENCER_LOCK = 0x6478722D65767473

_SEQUENCE = """
WITH todo AS (
    SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM events WHERE id IS NULL
), base AS (SELECT coalesce(max(id), 0) AS m FROM events)
UPDATE events e SET id = base.m + todo.n FROM todo, base WHERE e.seq = todo.seq
RETURNING e.id
"""
_EVENT_COLUMNS = "id, kind, order_id, api_key_id, subaccount_number, market, at, payload"
# The sequencing and the hub's read in one statement: the rows this run numbers come back from
# the UPDATE itself (no second read of what was just written), with the rows another replica
# numbered after ``$1`` since (at most ``$2``). A data-modifying CTE's main query reads the
# statement's snapshot, in which this run's rows have no id yet: no row comes back twice.
_SEQUENCE_AND_READ = f"""
WITH todo AS (
    SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM events WHERE id IS NULL
), base AS (SELECT coalesce(max(id), 0) AS m FROM events),
numbered AS (
    UPDATE events e SET id = base.m + todo.n FROM todo, base WHERE e.seq = todo.seq
    RETURNING {", ".join(f"e.{c}" for c in _EVENT_COLUMNS.split(", "))}
)
SELECT * FROM numbered
UNION ALL
(SELECT {_EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2)
ORDER BY id
"""


def _event(row: asyncpg.Record) -> StoredEvent:
    payload = row["payload"]
    return StoredEvent(
        id=row["id"],
        kind=row["kind"],
        order_id=row["order_id"],
        api_key_id=row["api_key_id"],
        subaccount_number=row["subaccount_number"],
        market=row["market"],
        at=row["at"],
        payload=orjson.loads(payload) if isinstance(payload, str | bytes) else payload,
    )


@dataclass(frozen=True, slots=True)
class ShortOrder:
    order_id: uuid.UUID
    subaccount_number: int
    market: str
    indexer_order_id: uuid.UUID
    filled_size: Decimal
    stored: Decimal


class EventRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def sequence(self) -> int:
        """Give committed events their ids (call inside a transaction); how many got one."""
        await self._conn.execute("SELECT pg_advisory_xact_lock($1)", SEQUENCER_LOCK)
        rows = await self._conn.fetch(_SEQUENCE)
        return len(rows)

    async def sequence_and_read(self, last_id: int, *, limit: int = 500) -> list[StoredEvent]:
        """``sequence`` and the new events in one round trip (call inside a transaction and
        commit before handing them out: their ids are not visible until then). In id order:
        the events numbered by others after ``last_id`` (at most ``limit``), then this run's.
        A hole between them (more than ``limit`` numbered by others) is the caller's to read
        with ``after``."""
        await self._conn.execute("SELECT pg_advisory_xact_lock($1)", SEQUENCER_LOCK)
        return [_event(r) for r in await self._conn.fetch(_SEQUENCE_AND_READ, last_id, limit)]

    async def after(self, last_id: int, *, limit: int = 500) -> list[StoredEvent]:
        rows = await self._conn.fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2",
            last_id,
            limit,
        )
        return [_event(r) for r in rows]

    async def bounds(self) -> tuple[int, int]:
        """(oldest id kept, newest id); (0, 0) when no event has been sequenced yet."""
        row = await self._conn.fetchrow(
            "SELECT coalesce(min(id), 0) AS lo, coalesce(max(id), 0) AS hi FROM events "
            "WHERE id IS NOT NULL"
        )
        return int(row["lo"]), int(row["hi"])

    async def prune(self, before: datetime) -> int:
        """Delete events older than ``before``; the newest always stays (it carries max(id),
        the base of the next ids, which must never go back)."""
        done = await self._conn.execute(
            "DELETE FROM events WHERE at < $1 AND id IS NOT NULL "
            "AND id < (SELECT max(id) FROM events)",
            before,
        )
        return int(done.split()[-1])


class FillRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, fills: Sequence[Fill]) -> int:
        """Store fills not stored yet (the indexer's fill id is the key); how many were new."""
        if not fills:
            return 0
        rows = await self._conn.fetch(
            "INSERT INTO fills (id, order_id, market, side, price, size, fee, liquidity, type, "
            "created_at, created_at_height, subaccount_number) "
            "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], "
            "$5::numeric[], $6::numeric[], $7::numeric[], $8::text[], $9::text[], "
            "$10::timestamptz[], $11::bigint[], $12::int[]) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            [f.id for f in fills],
            [f.order_id for f in fills],
            [f.market for f in fills],
            [f.side for f in fills],
            [f.price for f in fills],
            [f.size for f in fills],
            [f.fee for f in fills],
            [f.liquidity for f in fills],
            [f.type for f in fills],
            [f.created_at for f in fills],
            [f.created_at_height for f in fills],
            [f.subaccount_number for f in fills],
        )
        return len(rows)

    async def short(self, order_ids: list[uuid.UUID]) -> list[ShortOrder]:
        """Those of ``order_ids`` whose stored fills add up to less than their filled size."""
        rows = await self._conn.fetch(
            "SELECT o.id, o.subaccount_number, o.market, o.indexer_order_id, o.filled_size, "
            "coalesce((SELECT sum(size) FROM fills f WHERE f.order_id = o.id), 0) AS stored "
            "FROM orders o WHERE o.id = ANY($1::uuid[])",
            order_ids,
        )
        return [
            ShortOrder(
                r["id"],
                r["subaccount_number"],
                r["market"],
                r["indexer_order_id"],
                r["filled_size"],
                r["stored"],
            )
            for r in rows
            if r["stored"] < r["filled_size"]
        ]

    async def search(
        self,
        filters: FillFilter,
        *,
        limit: int = 50,
        cursor: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[Fill]:
        """Newest first, keyset-paginated on (created_at, id)."""
        q = Listing()
        arg, where = q.arg, q.where
        if filters.market is not None:
            where.append(f"f.market = {arg(filters.market)}")
        if filters.order_id is not None:
            where.append(f"f.order_id = {arg(filters.order_id)}")
        if filters.since is not None:
            where.append(f"f.created_at >= {arg(filters.since)}")
        if filters.until is not None:
            where.append(f"f.created_at < {arg(filters.until)}")
        if filters.subaccounts is not None:
            where.append(f"f.subaccount_number = ANY({arg(list(filters.subaccounts))}::int[])")
        if filters.placed_by is not None:
            where.append(f"o.api_key_id IS NOT DISTINCT FROM {arg(filters.placed_by[0])}")
        sql = q.newest_first(
            "SELECT f.* FROM fills f JOIN orders o ON o.id = f.order_id",
            limit=limit,
            cursor=cursor,
            created_at="f.created_at",
            id_="f.id",
        )
        rows = await self._conn.fetch(sql, *q.args)
        return [Fill(**{k: r[k] for k in Fill.__dataclass_fields__}) for r in rows]
