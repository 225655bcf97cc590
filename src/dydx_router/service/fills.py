"""Fills of our orders, stored as the indexer reports them (``GET /v1/fills``, ``fill`` events).

The recorder follows the event log: an ``order`` event whose filled size is not zero means the
indexer has indexed fills of that order. The websocket's fill message carries no fee
(``FillSubaccountMessageContents``); the REST fill does (comlink's ``fillToResponseObject``), so
the recorder reads ``GET /v4/fills``. That endpoint has no order filter (address, subaccount,
market, height bound, page), so the orders that filled within ``batch_s`` are looked up
together, one subaccount and market at a time, newest page first and further back by height
until every order's stored fills add up to its filled size: under load one page serves hundreds
of fills instead of one request each. The first page asks for about as many fills as the orders
looked up have (a market order's fills are one or two; the newest fills of the subaccount are
these orders' own), not ``page_size``: at ~300 filled orders/s a full page of 1,000 fills every
quarter second was ~4,000 fills a second rendered by the indexer and parsed here for ~300 used.
Further pages, when the first falls short, are full ones. A fill is stored once (the indexer's
fill id is the key); an order whose fills are not all found is asked about again, ``retries``
times.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import structlog

from dydx_router.domain.events import Fill
from dydx_router.domain.queries import FillFilter
from dydx_router.service.events import EventHub, SlowReader
from dydx_router.service.orders import Caller

log = structlog.get_logger(__name__)
PAGES_MAX = 10
# The first page of a look-up: this many fills per order looked up, plus a margin for the newer
# fills of orders that filled since.
FIRST_PAGE_PER_ORDER = 2
FIRST_PAGE_MARGIN = 32


class VenueFill(Protocol):
    """A fill as the indexer's REST API reports it (``chain/indexer_models.py`` Fill)."""

    id: uuid.UUID
    order_id: uuid.UUID | None
    side: Any
    liquidity: Any
    type: Any
    market: str
    price: Decimal
    size: Decimal
    fee: Decimal
    created_at: datetime
    created_at_height: int
    subaccount_number: int


# (subaccount, market, created at or before this height or None, at most this many) -> a page,
# newest first.
FetchFills = Callable[[int, str, int | None, int], Awaitable[Sequence[VenueFill]]]


class FillRecorder:
    def __init__(
        self,
        hub: EventHub,
        uow: Callable[[], Any],
        fetch: FetchFills,
        *,
        page_size: int = 1000,
        batch_s: float = 0.25,
        retries: int = 8,
    ) -> None:
        self._hub = hub
        self._uow = uow
        self._fetch = fetch
        self._page_size = page_size
        self._batch_s = batch_s
        self._retries = retries
        self._last: int | None = None
        # Orders to look up, with the attempts made so far.
        self._todo: dict[uuid.UUID, int] = {}
        self._kick = asyncio.Event()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._follow())
            tg.create_task(self._record_loop())

    async def _follow(self) -> None:
        while True:
            try:
                async for e in self._hub.stream(Caller.system(), last_event_id=self._last):
                    self._last = e.id
                    oid = e.order_id
                    if e.kind == "order" and oid is not None and Decimal(e.payload["filled_size"]):
                        self._todo.setdefault(oid, 0)
                        self._kick.set()
            except SlowReader:
                continue  # resume from the table at our last id

    async def _record_loop(self) -> None:
        while True:
            await self._kick.wait()
            await asyncio.sleep(self._batch_s)  # let the orders of the same blocks gather
            self._kick.clear()
            todo, self._todo = self._todo, {}
            try:
                missing = await self.record(list(todo))
            except (OSError, TimeoutError) as exc:  # DatabaseUnavailable is an OSError
                log.warning("fills_record_failed", error=str(exc) or type(exc).__name__)
                missing = set(todo)
            for oid in missing:
                attempts = todo.get(oid, 0) + 1
                if attempts >= self._retries:
                    log.warning("fills_incomplete", order_id=str(oid))
                else:
                    self._todo.setdefault(oid, attempts)
                    self._kick.set()
            if missing:
                await asyncio.sleep(self._batch_s * 4)

    async def record(self, order_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Store the indexer's fills of these orders; the ids whose fills are still short."""
        async with self._uow() as tx:
            short = await tx.fills.short(list(order_ids))
        groups: dict[tuple[int, str], list[Any]] = {}
        for row in short:
            groups.setdefault((row.subaccount_number, row.market), []).append(row)
        left: set[uuid.UUID] = set()
        for (sub, market), rows in groups.items():
            left |= await self._record_group(sub, market, rows)
        return left

    async def _record_group(self, sub: int, market: str, rows: list[Any]) -> set[uuid.UUID]:
        by_venue = {r.indexer_order_id: r for r in rows}
        need = {r.order_id: r.filled_size - r.stored for r in rows}
        found: dict[uuid.UUID, Fill] = {}
        before: int | None = None
        limit = min(self._page_size, FIRST_PAGE_PER_ORDER * len(rows) + FIRST_PAGE_MARGIN)
        for _ in range(PAGES_MAX):
            try:
                page = await self._fetch(sub, market, before, limit)
            except Exception as exc:  # a chain error: these orders are asked about again
                log.warning("fills_fetch_failed", market=market, error=str(exc))
                break
            for f in page:
                row = by_venue.get(f.order_id) if f.order_id is not None else None
                if row is None or f.id in found:
                    continue
                found[f.id] = _fill(f, row.order_id)
            got: dict[uuid.UUID, Decimal] = {}
            for fill in found.values():
                got[fill.order_id] = got.get(fill.order_id, Decimal(0)) + fill.size
            if all(got.get(oid, Decimal(0)) >= n for oid, n in need.items()):
                break
            if len(page) < limit:
                break
            oldest = min(f.created_at_height for f in page)
            if before is not None and oldest >= before:
                break  # one block holds more fills than a page: no way further back
            before = oldest
            limit = self._page_size
        async with self._uow() as tx:
            await tx.fills.add(list(found.values()))
            still = await tx.fills.short(list(need))
            await tx.commit()
        return {r.order_id for r in still}


def _fill(f: VenueFill, order_id: uuid.UUID) -> Fill:
    return Fill(
        id=f.id,
        order_id=order_id,
        market=f.market,
        side=str(f.side),
        price=f.price,
        size=f.size,
        fee=f.fee,
        liquidity=str(f.liquidity),
        type=str(f.type),
        created_at=f.created_at,
        created_at_height=f.created_at_height,
        subaccount_number=f.subaccount_number,
    )


async def search_fills(
    uow: Callable[[], Any],
    filters: FillFilter,
    *,
    limit: int,
    cursor: tuple[datetime, uuid.UUID] | None,
) -> list[Fill]:
    async with uow() as tx:
        found: list[Fill] = await tx.fills.search(filters, limit=limit, cursor=cursor)
        return found
