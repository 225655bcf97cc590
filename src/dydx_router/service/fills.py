"""Fills of our orders, stored as the indexer reports them (``GET /v1/fills``, ``fill`` events).

The recorder follows the event log: an ``order`` event whose filled size grew means the indexer
has indexed a fill of that order, so the recorder asks the indexer's ``GET /v4/fills`` for the
order's subaccount and market and stores the fills whose ``orderId`` is the order's (keyed by
the indexer's fill id: a fill is stored once, however often it is seen). The websocket's fill
message carries no fee (``FillSubaccountMessageContents``); the REST fill does
(``indexer/services/comlink/src/request-helpers/request-transformer.ts``, fillToResponseObject).
An order whose stored fills do not yet add up to its filled size is asked about again.
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
from dydx_router.service.events import EventHub, SlowReader
from dydx_router.service.orders import Caller
from dydx_router.store.events import FillFilter

log = structlog.get_logger(__name__)


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


FetchFills = Callable[[int, str], Awaitable[Sequence[VenueFill]]]


class FillRecorder:
    def __init__(
        self,
        hub: EventHub,
        uow: Callable[[], Any],
        fetch: FetchFills,
        *,
        retries: int = 5,
        retry_s: float = 1.0,
    ) -> None:
        self._hub = hub
        self._uow = uow
        self._fetch = fetch
        self._retries = retries
        self._retry_s = retry_s
        self._last: int | None = None
        # One look-up per order at a time: later events of the same order are covered by it
        # (it asks until the stored fills add up to the order's filled size).
        self._pending: dict[uuid.UUID, asyncio.Task[int]] = {}

    async def run(self) -> None:
        while True:
            try:
                async for e in self._hub.stream(Caller.system(), last_event_id=self._last):
                    self._last = e.id
                    oid = e.order_id
                    if e.kind != "order" or oid is None or not Decimal(e.payload["filled_size"]):
                        continue
                    if oid not in self._pending:
                        task = asyncio.create_task(self.record(oid))
                        self._pending[oid] = task
                        task.add_done_callback(self._done)
            except SlowReader:
                continue  # resume from the table at our last id

    def _done(self, task: asyncio.Task[int]) -> None:
        for k, t in list(self._pending.items()):
            if t is task:
                del self._pending[k]

    async def record(self, order_id: uuid.UUID) -> int:
        """Store the indexer's fills of the order; how many were new."""
        new = 0
        for attempt in range(self._retries):
            async with self._uow() as tx:
                order = await tx.orders.get(order_id, with_history=False)
            try:
                venue = await self._fetch(order.subaccount_number, order.market)
            except (OSError, TimeoutError, Exception) as exc:  # chain errors: try again later
                log.warning("fills_fetch_failed", order_id=str(order.id), error=str(exc))
                venue = []
            mine = [
                Fill(
                    id=f.id,
                    order_id=order.id,
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
                for f in venue
                if f.order_id == order.indexer_order_id
            ]
            async with self._uow() as tx:
                added: int = await tx.fills.add(mine)
                new += added
                stored = await tx.fills.total_size(order.id)
                await tx.commit()
            if stored >= order.filled_size:
                return new
            await asyncio.sleep(self._retry_s * (attempt + 1))
        log.warning("fills_incomplete", order_id=str(order_id))
        return new


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
