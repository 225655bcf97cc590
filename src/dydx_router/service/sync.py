"""Keeping each order's status true: apply what the venue reports, expire short-term orders once
the chain passes their good-til-block, and reconcile every order whose outcome is still open.

Recovery never invents identifiers: an order whose broadcast outcome is unknown is only ever re-sent
as the identical signed bytes while its good-til-block is valid (the chain dedupes by OrderId:
v4-chain ``protocol/x/clob/memclob/memclob.go`` validateNewOrder), otherwise settled from what the
chain and the indexer say.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from dydx_router.domain.errors import ConcurrentUpdate, DomainError, OrderInFlight
from dydx_router.domain.order import Order, OrderStatus
from dydx_router.domain.sync import VenueOrder, VenueStatus, is_expired, settle
from dydx_router.observability import metrics
from dydx_router.service.ports import (
    Clock,
    Exchange,
    PlacementWrites,
    UnitOfWorkFactory,
)
from dydx_router.service.recovery import RecoveryMixin

log = structlog.get_logger(__name__)

# Non-final orders whose next status the chain or the indexer has yet to tell: the reconciler
# checks these on every pass. Resting orders (OPEN, PARTIALLY_FILLED, UNTRIGGERED) change only
# when the venue reports it, which the live status stream does; full passes sweep them too.
# The status stream expires short-term orders as blocks arrive; the reconciler's quick passes
# pick up those still open this many blocks after their good-til-block.
EXPIRY_BACKSTOP_BLOCKS = 5
AWAITED = frozenset(
    {
        OrderStatus.PENDING,
        OrderStatus.UNKNOWN,
        OrderStatus.SUBMITTED,
        OrderStatus.CANCEL_REQUESTED,
    }
)


# Changes a market maker's orders make by the thousand (reaching the book, expiring unfilled) are
# logged at DEBUG: at hundreds of orders a second, two INFO lines per order cost the router ~9% of
# its CPU (docs/performance.md). Every change is still in the order's history (the
# order_status_history table, GET /v1/orders/{id}) and counted in
# dydx_router_order_status_synced_total; fills, cancels, rejections and unknown outcomes stay INFO.
ROUTINE_CHANGES = frozenset({OrderStatus.OPEN, OrderStatus.EXPIRED})
# What the venue reports of an order that rests on the book (a cancel has yet to reach it).
RESTING = frozenset({VenueStatus.OPEN, VenueStatus.BEST_EFFORT_OPENED, VenueStatus.UNTRIGGERED})


def log_status_synced(order_id: uuid.UUID, status: OrderStatus) -> None:
    metrics.record_status_synced(status.value)
    write = log.debug if status in ROUTINE_CHANGES else log.info
    write("order_status_synced", order_id=str(order_id), status=status.value)


# Orders settled at once: enough for their writes to share statements, few enough that a burst
# (a block's expiries) interleaves with placements instead of queueing ahead of them (p99 at
# 200 orders/s: ~19 ms with 32, ~12 ms with 8; throughput unchanged).
SETTLE_CONCURRENCY = 8


async def settle_all(
    jobs: Sequence[Coroutine[Any, Any, None]], concurrency: int = SETTLE_CONCURRENCY
) -> None:
    """Run independent settlements at most ``concurrency`` at a time; the first error
    (after every job has ended) propagates, as it would have from a loop."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(job: Coroutine[Any, Any, None]) -> None:
        async with gate:
            await job

    results = await asyncio.gather(*(guarded(j) for j in jobs), return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r


@dataclass
class ReconcileReport:
    checked: int = 0
    changed: int = 0
    rebroadcast: int = 0
    unresolved: int = 0


@dataclass(frozen=True, slots=True)
class _At:
    """Where a reconcile pass stands: the node's height (for what may still be sent), and the
    indexer's height and block time (for what the indexer's silence proves)."""

    height: int
    venue_height: int
    now: datetime


@dataclass
class OrderSync(RecoveryMixin):
    uow: UnitOfWorkFactory
    exchange: Exchange
    clock: Clock = field(default=lambda: datetime.now(UTC))
    # Orders younger than this are left to the live status stream.
    settle_after: timedelta = timedelta(seconds=3)
    # A stateful order CheckTx accepted but that no block holds after this long is UNKNOWN.
    confirm_after: timedelta = timedelta(seconds=30)
    # Grouped compare-and-set status writes for apply_seen (store.batch.PlacementWriter).
    writes: PlacementWrites | None = None
    # The kill switch: HALTED stops every (re-)placement by recovery (service/recovery.py).
    halted: Callable[[], bool] = field(default=lambda: False)
    # Orders whose placement is running in this process (OrderService.placing).
    in_flight: Callable[[uuid.UUID], bool] = field(default=lambda _id: False)
    # While other replicas are alive (``peers()``), a PENDING order younger than this may be a
    # placement still running on one of them (docs/scaling.md): its outcome is left to it.
    pending_grace: timedelta = timedelta(0)
    peers: Callable[[], bool] = field(default=lambda: False)
    _cancels_resent: dict[uuid.UUID, datetime] = field(default_factory=dict)

    async def apply(
        self,
        order_id: uuid.UUID,
        venue: VenueOrder | None,
        height: int | None,
        *,
        recovering: bool = False,
        now: datetime | None = None,
    ) -> bool:
        """Write what ``venue`` implies for the order at ``height`` and time ``now`` (default:
        the clock); True if anything changed.

        A PENDING order belongs to the placement still broadcasting it; only the reconciler
        (``recovering``) settles one, once it is old enough to mean a crash.
        """
        async with self.uow() as uow:
            order = await uow.orders.get_for_update(order_id)
            if order.status.is_final:
                return False
            if order.status is OrderStatus.PENDING:
                if not recovering:
                    raise OrderInFlight(f"order {order_id} is still being placed")
                # A venue report about it means it reached the chain: not "never sent".
                await uow.orders.transition(
                    order,
                    OrderStatus.UNKNOWN,
                    reason="seen on the venue while pending"
                    if venue is not None
                    else "recovered after a restart",
                    height=height,
                )
            change = settle(order, venue, height, now or self.clock())
            if change is None:
                await uow.commit()
                return order.status is OrderStatus.UNKNOWN
            fields: dict[str, object] = {}
            if change.filled_size != order.filled_size:
                fields["filled_size"] = change.filled_size
            if change.average_fill_price != order.average_fill_price:
                fields["average_fill_price"] = change.average_fill_price
            if change.status is not None:
                await uow.orders.transition(
                    order, change.status, reason=change.reason, height=height, **fields
                )
                log_status_synced(order.id, change.status)
            elif fields:
                await uow.orders.update(order, **fields)
            await uow.commit()
            return True

    async def apply_seen(self, order: Order, venue: VenueOrder | None, height: int | None) -> bool:
        """``apply`` for an order read moments ago (the status stream's hot path).

        The change is computed on that snapshot and, when it moves the status (a fill the
        stream stated in full included), written as a compare-and-set on the status and the
        filled size the snapshot had: one statement, grouped with concurrent writes, no row
        lock. Anything else (new fill figures without a status move), or a row that moved
        meanwhile, goes through ``apply`` under the row lock.
        """
        venue = self._rounded(order, venue)
        if self.writes is None or order.status is OrderStatus.PENDING or order.status.is_final:
            return await self.apply(order.id, venue, height)
        change = settle(order, venue, height, self.clock())
        if change is None:
            return False
        if change.status is None:
            return await self.apply(order.id, venue, height)
        fields: dict[str, object] = {}
        if change.filled_size != order.filled_size:
            fields["filled_size"] = change.filled_size
        if change.average_fill_price != order.average_fill_price:
            fields["average_fill_price"] = change.average_fill_price
        try:
            await self.writes.record(
                order, change.status, reason=change.reason, height=height, **fields
            )
        except ConcurrentUpdate:
            return await self.apply(order.id, venue, height)
        log_status_synced(order.id, change.status)
        return True

    def _rounded(self, order: Order, venue: VenueOrder | None) -> VenueOrder | None:
        """The stream states a fill's average price exactly; stored, as from REST, to a tenth of
        the market's tick (domain.sync.average_fill_price)."""
        if venue is None or venue.average_fill_price is None:
            return venue
        try:
            tick = self.exchange.market(order.market).tick_size
        except DomainError:
            return venue
        avg = venue.average_fill_price.quantize(tick / 10)
        return dataclasses.replace(venue, average_fill_price=avg)

    async def refresh(self, order: Order, height: int | None, *, recovering: bool = False) -> bool:
        """Ask the indexer about ``order`` and apply the answer."""
        venue = await self.exchange.venue_order(order)
        return await self.apply(order.id, venue, height, recovering=recovering)

    async def expire_due(self, height: int, *, grace_blocks: int = 0) -> int:
        """Settle short-term orders whose good-til-block the chain passed more than
        ``grace_blocks`` ago (the indexer says whether anything filled; a plain expiry is
        written as a grouped compare-and-set).

        The status stream reports the removal of an expired order itself; the grace lets it,
        so that this pass only catches what the stream did not say (one indexer call and one
        write per order saved, on every order that expires)."""
        async with self.uow() as uow:
            due = await uow.orders.non_final(limit=5000, expired_before_block=height - grace_blocks)
        changed = 0
        for order in due:
            try:
                venue = await self.exchange.venue_order(order)
                changed += await self.apply_seen(order, venue, height)
            except (ConcurrentUpdate, OrderInFlight):
                continue
        return changed

    async def reconcile(
        self, *, full: bool = True, seen_through: datetime | None = None
    ) -> ReconcileReport:
        """One pass over every non-final order older than ``settle_after``.

        ``full=False`` (the status stream is live) skips resting orders, whose changes the
        stream reports, and checks only the orders whose outcome is still awaited, plus the
        short-term orders the stream's expiry has left behind well past their good-til-block
        (a backstop).

        Expiry is judged on the indexer's own height (and block time), read before any order
        is looked up: an order the indexer does not show is expired only once the indexer has
        processed the blocks past its good-til-block, so a fill it has yet to index is never
        written over with EXPIRED. Sending is judged on the node's height.

        ``seen_through``: the status stream has settled everything it delivered before this
        time, so ``settle_after`` is counted from there rather than from now (a stream that
        runs behind under load has the reports of recent orders queued, not missing).
        """
        report = ReconcileReport()
        height = self.exchange.latest_height()
        venue_height, venue_time = await self.exchange.indexer_height()
        now = self.clock()
        at = _At(height, venue_height, now if venue_time is None else min(now, venue_time))
        cutoff = min(now, seen_through or now) - self.settle_after
        async with self.uow() as uow:
            found = await uow.orders.non_final(limit=5000, statuses=None if full else AWAITED)
            if not full:
                ids = {o.id for o in found}
                overdue = await uow.orders.non_final(
                    limit=5000, expired_before_block=venue_height - EXPIRY_BACKSTOP_BLOCKS
                )
                found += [o for o in overdue if o.id not in ids]
            candidates = [o for o in found if o.created_at is None or o.created_at <= cutoff]
        for order in candidates:
            report.checked += 1
            try:
                changed = await self._reconcile_one(order, at, report)
            except ConcurrentUpdate:
                continue
            report.changed += changed
        async with self.uow() as uow:
            report.unresolved = len(
                await uow.orders.non_final(
                    limit=5000, statuses=(OrderStatus.UNKNOWN, OrderStatus.PENDING)
                )
            )
        for gone in set(self._cancels_resent) - {o.id for o in candidates}:
            del self._cancels_resent[gone]
        return report

    async def _reconcile_one(self, order: Order, at: _At, report: ReconcileReport) -> bool:
        if order.status is OrderStatus.PENDING and (
            self.in_flight(order.id)
            or (
                order.created_at is not None
                and at.now - order.created_at < self.pending_grace
                and self.peers()
            )
        ):
            return False  # its placement, in this or another replica, records the outcome
        venue = await self.exchange.venue_order(order)
        if venue is not None:
            if order.status is OrderStatus.CANCEL_REQUESTED and venue.status in RESTING:
                await self._resend_cancel(order, at.height)
            return await self.apply(order.id, venue, at.venue_height, recovering=True, now=at.now)
        # Not on the indexer (as of at.venue_height, read before the order was asked about).
        if not order.is_short_term and not is_expired(order, at.venue_height, at.now):
            recovering = (OrderStatus.PENDING, OrderStatus.UNKNOWN, OrderStatus.CANCEL_REQUESTED)
            if order.status in recovering or self._unconfirmed(order):
                return await self._recover_stateful(order, at.height, report)
            return False
        if (
            order.is_short_term
            and order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN)
            and order.signed_tx is not None
            and not is_expired(order, at.height, self.clock())
        ):
            # Still valid on the chain: re-send the identical bytes (or, halted, cancel them).
            return await self._resend_short_term(order, at.height, report)
        # Expiry is decided on the indexer's height: a fill it has yet to index is not lost.
        return await self.apply(order.id, None, at.venue_height, recovering=True, now=at.now)

    def _unconfirmed(self, order: Order) -> bool:
        """SUBMITTED (CheckTx accepted it) for longer than the confirmation timeout."""
        return (
            order.status is OrderStatus.SUBMITTED
            and order.tx_hash is not None
            and order.created_at is not None
            and self.clock() - order.created_at >= self.confirm_after
        )
