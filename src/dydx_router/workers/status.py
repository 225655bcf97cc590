"""Background tasks owned by the app lifespan: the status stream and the reconciler.

- ``StatusStreamWorker`` follows the indexer websocket (``v4_subaccounts`` for our subaccounts and
  ``v4_block_height``): every block height feeds the height cache and settles short-term orders
  whose good-til-block has passed; every order update of ours is settled against the indexer.
  A (re)subscription snapshot triggers a full reconciliation, since updates may have been missed.
- ``ReconcilerWorker`` settles every non-final order from the chain and the indexer on start-up and
  then periodically: it is also the REST polling fallback when the websocket is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import structlog

from dydx_router.chain.errors import ChainError
from dydx_router.chain.height import HeightCache
from dydx_router.chain.indexer_models import WsOrderUpdate
from dydx_router.chain.stream import (
    BlockHeight,
    IndexerStream,
    StreamConnected,
    StreamDisconnected,
    SubaccountSnapshot,
    SubaccountUpdate,
)
from dydx_router.domain.errors import DomainError, OrderInFlight
from dydx_router.domain.order import Order
from dydx_router.domain.sync import REMOVED_BY_EXPIRY, VenueOrder, VenueStatus
from dydx_router.observability import metrics
from dydx_router.service.ports import UnitOfWorkFactory
from dydx_router.service.sync import SETTLE_CONCURRENCY, OrderSync, settle_all

DEFERRED_RETRY_S = 0.3
# The reader's end of stream.
_END = object()
# Stream events read ahead of the settling at most.
STREAM_BACKLOG_MAX = 2048
# Blocks the stream gets to report an expired short-term order before the expiry pass asks.
EXPIRY_GRACE_BLOCKS = 2
# A stream that runs this far behind (its oldest unsettled event is older) settles this many
# orders at a time rather than SETTLE_CONCURRENCY: their writes then share larger statements.
# With 8 at a time the settling is bound by write round trips (~8 per group commit), and under
# sustained load it fell further behind every second until the websocket's flow control stalled
# the connection and its pings timed out.
CATCH_UP_AFTER_S = 0.5
CATCH_UP_CONCURRENCY = 128
_RESTING = frozenset({VenueStatus.OPEN, VenueStatus.BEST_EFFORT_OPENED, VenueStatus.UNTRIGGERED})

log = structlog.get_logger(__name__)


class StatusStreamWorker:
    def __init__(
        self,
        stream: IndexerStream,
        sync: OrderSync,
        heights: HeightCache,
        uow: UnitOfWorkFactory,
        reconcile_now: asyncio.Event,
    ) -> None:
        self._stream = stream
        self._sync = sync
        self._heights = heights
        self._uow = uow
        self._reconcile_now = reconcile_now
        self._new_height = asyncio.Event()
        self._height = 0
        # Orders the venue reported before our broadcast bookkeeping finished, with the report
        # the stream gave (None: ask the indexer), settled again shortly.
        self._deferred: dict[uuid.UUID, tuple[VenueOrder, int | None] | None] = {}
        self._retry = asyncio.Event()
        self.reconnects = 0
        self.connected = False
        # Since when the stream has been down (monotonic; None while connected).
        self.down_since: float | None = time.monotonic()
        # When the oldest event received but not yet settled arrived (None: nothing pending).
        self._behind_since: datetime | None = None

    def behind_s(self) -> float:
        """Age of the oldest event received but not yet settled (0: none is waiting)."""
        behind = self._behind_since
        return 0.0 if behind is None else (datetime.now(UTC) - behind).total_seconds()

    def problem(self, *, max_behind_s: float, max_down_s: float) -> str | None:
        """For ``/ready``: down for longer than ``max_down_s``, or settling more than
        ``max_behind_s`` behind what the indexer sent (statuses that far out of date)."""
        down = self.down_since
        if down is not None and time.monotonic() - down > max_down_s:
            return (
                f"the indexer stream has been down for {time.monotonic() - down:.1f} s "
                f"(limit {max_down_s:g} s); statuses come from the reconciler's polling"
            )
        behind = self.behind_s()
        if behind > max_behind_s:
            return (
                f"the status stream is {behind:.1f} s behind the indexer "
                f"(limit {max_behind_s:g} s): reported statuses are that far out of date"
            )
        return None

    def settled_through(self) -> datetime | None:
        """Every event the stream delivered before this time has been settled; None while the
        stream is down. Under load the settling runs behind the socket: the reconciler counts
        an order as overdue only from here, not from the wall clock, instead of asking the
        indexer's REST API about orders whose reports are already queued here."""
        if not self.connected:
            return None
        return self._behind_since or datetime.now(UTC)

    async def run(self) -> None:
        helpers = [
            asyncio.create_task(self._expire_loop(), name="expiry"),
            asyncio.create_task(self._deferred_loop(), name="deferred-status"),
        ]
        # The stream is read by a task of its own into a queue; events that queued up while
        # the previous ones were being settled are taken together, and consecutive order
        # updates among them are settled as one (one look-up, grouped writes), in order.
        # Bounded: when settling falls behind, the reader stops reading and the websocket's own
        # flow control pushes back, instead of the backlog growing in memory.
        queue: asyncio.Queue[tuple[datetime, object]] = asyncio.Queue(maxsize=STREAM_BACKLOG_MAX)
        reader = asyncio.create_task(self._read(queue), name="status-stream-reader")
        helpers.append(reader)
        try:
            while True:
                self._behind_since = None
                received, first = await queue.get()
                self._behind_since = received
                batch = [first]
                while not queue.empty():
                    batch.append(queue.get_nowait()[1])
                metrics.STREAM_BACKLOG.set(len(batch))
                updates: list[SubaccountUpdate] = []
                for event in [*batch, None]:
                    if isinstance(event, SubaccountUpdate):
                        updates.append(event)
                        continue
                    if updates:
                        await self._guarded(self._settle_updates(updates))
                        updates = []
                    if event is _END:
                        return
                    if event is not None:
                        await self._guarded(self._handle(event))
        finally:
            # Whatever ended the run (the stream's end, an error, a cancel), nothing is being
            # settled any more: the reconciler must not count on it (settled_through() None).
            self._mark_down()
            for task in helpers:
                task.cancel()
            for task in helpers:
                # The reader's own error (e.g. an indexer error message) is raised from here,
                # for the supervisor to log and restart the worker.
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _mark_down(self) -> None:
        if self.connected or self.down_since is None:
            self.down_since = time.monotonic()
        self.connected = False
        self._behind_since = None
        metrics.STREAM_BACKLOG.set(0)

    async def _read(self, queue: asyncio.Queue[tuple[datetime, object]]) -> None:
        try:
            async for event in self._stream.events():
                await queue.put((datetime.now(UTC), event))
        finally:
            # The settling loop ends with the stream (a stream that ended has nothing more to
            # say; at worst the oldest unsettled event is dropped to make room, and the
            # reconciler settles what it was about).
            if queue.full():
                queue.get_nowait()
            queue.put_nowait((datetime.now(UTC), _END))

    @staticmethod
    async def _guarded(step: Awaitable[None]) -> None:
        try:
            await step
        except (ChainError, DomainError, OSError) as e:  # OSError: DatabaseUnavailable
            log.warning("status_event_failed", error=str(e))

    async def _settle_updates(self, updates: Sequence[SubaccountUpdate]) -> None:
        """Settle the orders of consecutive updates: each order once, from its latest report.

        An order the stream states in full is applied as told, without asking the indexer's
        REST API again: it rests with nothing filled (the common update: it reached the book),
        was removed with a stated reason and nothing filled (expired, canceled), or every one of
        its fills is among these updates (the sizes of the fills add up to the total the latest
        report states: the common fill of a market order, matched in one block), which gives the
        fill price too. Anything else goes through REST, which answers with the order's latest
        state and every fill's price.
        """
        ids: dict[uuid.UUID, None] = {}
        # The report and the height the indexer stamped it with (our own height may still be
        # a block behind the message that carries it).
        told: dict[uuid.UUID, tuple[VenueOrder, int | None]] = {}
        via_rest: set[uuid.UUID] = set()
        # Fills by order, each once (price, size), and the latest report of a filled order.
        fills: dict[uuid.UUID, dict[uuid.UUID, tuple[Decimal, Decimal]]] = {}
        filled: dict[uuid.UUID, WsOrderUpdate] = {}
        for event in updates:
            contents = event.contents
            for f in contents.fills:
                if f.order_id:
                    ids[f.order_id] = None
                    fills.setdefault(f.order_id, {})[f.id] = (f.price, f.size)
            for o in contents.orders:
                ids[o.id] = None
                filled.pop(o.id, None)
                if o.total_filled is None:
                    via_rest.add(o.id)
                elif o.total_filled:
                    filled[o.id] = o
                elif o.status in _RESTING:
                    told[o.id] = (VenueOrder(o.status, Decimal(0)), o.updated_at_height)
                elif o.status is VenueStatus.CANCELED and o.removal_reason:
                    # Removed (expired, canceled) with nothing filled: said in full.
                    report = VenueOrder(o.status, Decimal(0), removal_reason=o.removal_reason)
                    told[o.id] = (report, o.updated_at_height)
                else:
                    via_rest.add(o.id)
        for oid, seen in fills.items():
            latest = filled.get(oid)
            total = sum((size for _, size in seen.values()), Decimal(0))
            if latest is None or latest.total_filled != total or oid in via_rest:
                via_rest.add(oid)
                continue
            price = sum((p * size for p, size in seen.values()), Decimal(0)) / total
            report = VenueOrder(latest.status, total, price, removal_reason=latest.removal_reason)
            told[oid] = (report, latest.updated_at_height)
        via_rest.update(oid for oid in filled if oid not in fills)
        if ids:
            await self._settle(list(ids), {k: v for k, v in told.items() if k not in via_rest})

    async def _handle(self, event: object) -> None:
        if isinstance(event, BlockHeight):
            self._heights.observe(event.height, event.time)
            self._height = event.height
            self._new_height.set()
        elif isinstance(event, SubaccountSnapshot):
            # A fresh snapshot after (re)subscribing: anything may have been missed.
            self._reconcile_now.set()
        elif isinstance(event, SubaccountUpdate):
            await self._settle_updates([event])
        elif isinstance(event, StreamConnected):
            self.connected = True
            self.down_since = None
            log.info("indexer_stream_connected", url=event.url)
        elif isinstance(event, StreamDisconnected):
            if self.connected:
                self.down_since = time.monotonic()
            self.connected = False
            self.reconnects += 1
            log.warning("indexer_stream_disconnected", url=event.url, reason=event.reason)

    async def _settle(
        self,
        indexer_ids: Sequence[uuid.UUID],
        told: Mapping[uuid.UUID, tuple[VenueOrder, int | None]] | None = None,
    ) -> None:
        async with self._uow() as uow:
            ours = await uow.orders.find_by_indexer_ids(list(dict.fromkeys(indexer_ids)))

        async def one(order: Order) -> None:
            report = (told or {}).get(order.indexer_order_id)
            try:
                if report is not None:
                    venue, at = report
                    height = max(self._height, at or 0)
                    if venue.removal_reason == REMOVED_BY_EXPIRY and order.good_til_block:
                        # Valid through its good-til-block: expired as of the block after it.
                        height = max(height, order.good_til_block + 1)
                    await self._sync.apply_seen(order, venue, height or None)
                else:
                    await self._sync.refresh(order, self._height or None)
                # A later report settled: an earlier deferred one must not be applied after it.
                self._deferred.pop(order.indexer_order_id, None)
            except OrderInFlight:
                # The venue is faster than our broadcast bookkeeping: settle again shortly,
                # from the same report (the common case under load: no REST call for it).
                self._deferred[order.indexer_order_id] = report
                self._retry.set()

        # Distinct orders, settled together (their writes share a statement). Fills the stream
        # stated come a block at a time (hundreds at once): they go first, 128 at a time; 8 at a
        # time, each 8 waiting for a group commit, they took ~60 round trips and the last fill
        # of a block reached PostgreSQL 1-3 s after its block. The rest (placements reaching the
        # book, expiries) keep 8 at a time unless the stream is behind, so that they interleave
        # with placements (p99 at 200 orders/s, above SETTLE_CONCURRENCY).
        pending = [o for o in ours if not o.status.is_final]
        fills = [o for o in pending if _is_fill((told or {}).get(o.indexer_order_id))]
        rest = [o for o in pending if not _is_fill((told or {}).get(o.indexer_order_id))]
        try:
            if fills:
                await settle_all([one(o) for o in fills], CATCH_UP_CONCURRENCY)
        finally:
            behind = self._behind_since
            catching_up = behind is not None and (
                (datetime.now(UTC) - behind).total_seconds() > CATCH_UP_AFTER_S
            )
            await settle_all(
                [one(o) for o in rest], CATCH_UP_CONCURRENCY if catching_up else SETTLE_CONCURRENCY
            )

    async def _deferred_loop(self) -> None:
        while True:
            await self._retry.wait()
            self._retry.clear()
            await asyncio.sleep(DEFERRED_RETRY_S)
            deferred, self._deferred = self._deferred, {}
            told = {k: v for k, v in deferred.items() if v is not None}
            try:
                await self._settle(list(deferred), told)
            except (ChainError, DomainError, OSError) as e:
                log.warning("status_event_failed", error=str(e))
            except Exception:
                log.exception("status_event_failed_unexpectedly")

    async def _expire_loop(self) -> None:
        while True:
            await self._new_height.wait()
            self._new_height.clear()
            try:
                await self._sync.expire_due(self._height, grace_blocks=EXPIRY_GRACE_BLOCKS)
            except (ChainError, DomainError, OSError) as e:
                log.warning("expiry_failed", error=str(e))
            except Exception:
                # A helper loop that dies is silent, and expiries would stop for good.
                log.exception("expiry_failed_unexpectedly")


def _is_fill(report: tuple[VenueOrder, int | None] | None) -> bool:
    return report is not None and report[0].total_filled > 0
