"""Cancelling orders: one, or many at once in batches (mixed into `OrderService`,
service/orders.py)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from dydx_router.domain.errors import (
    OrderNotCancelable,
)
from dydx_router.domain.order import (
    Order,
    OrderStatus,
)
from dydx_router.domain.windows import cancel_good_til_block
from dydx_router.service.cancels import CancelFailure, CancelReport, record_cancel_outcome
from dydx_router.service.commands import CANCEL_PAGE, MAX_BATCH_CANCELS, Caller, CancelAudit
from dydx_router.service.faults import Step
from dydx_router.service.order_queries import OrderQueries
from dydx_router.service.ports import (
    Outcome,
)
from dydx_router.service.throttle import BATCH_CANCEL_WEIGHT

if TYPE_CHECKING:
    pass

log = structlog.get_logger(__name__)


class Cancelling(OrderQueries):
    """cancel and cancel_many."""

    # --- cancel -----------------------------------------------------------------------------
    async def cancel(
        self, order_id: uuid.UUID, caller: Caller, *, audit: CancelAudit | None = None
    ) -> Order:
        with self.writes.enter():
            order, _ = await self._cancel(order_id, caller, audit)
            return order

    async def _cancel(
        self, order_id: uuid.UUID, caller: Caller, audit: CancelAudit | None = None
    ) -> tuple[Order, CancelReport]:
        """Cancel one order; OrderNotCancelable when it is final, not sent yet, or the chain
        refused the cancel (then it is back to its earlier status)."""
        order = await self.get(order_id, caller)
        if order.status.is_final:
            raise OrderNotCancelable(
                f"order {order_id} is already {order.status}", status=str(order.status)
            )
        self.exchange.ensure_writable()
        if self.gate is not None:
            await self.gate.admit_cancel(short_term=order.is_short_term)
        height = self.exchange.latest_height()
        async with self.uow() as uow:
            order = await uow.orders.get_for_update(order_id)
            if order.status.is_final:
                raise OrderNotCancelable(
                    f"order {order_id} is already {order.status}", status=str(order.status)
                )
            before = order.status
            if before is not OrderStatus.CANCEL_REQUESTED:
                reason = "cancel requested"
                if before is OrderStatus.PENDING:
                    reason += " before the placement's outcome was known"
                await uow.orders.transition(
                    order, OrderStatus.CANCEL_REQUESTED, reason=reason, height=height
                )
            if audit is not None:
                await audit(uow, [order])
            await uow.commit()
            order.history = await uow.orders.history(order.id)
        if before is OrderStatus.PENDING and not order.is_short_term:
            # A stateful cancel needs the order in state (clob/3006). Its placement sees the
            # request before it broadcasts (write-ahead) and withdraws; if it was sent
            # already, the reconciler sends the cancel once the venue shows the order.
            return order, CancelReport(orders=[order])
        # The connection is back in the pool before the chain call: a slow node must not hold
        # one pooled connection per cancel in flight (and starve placements and reads).
        # A short-term cancel of an OrderId the chain does not hold yet succeeds and keeps
        # the placement off the book (memclob.go CancelOrder, validateNewOrder: clob/7).
        await self.holds.at(Step.BEFORE_CANCEL_BROADCAST)
        submission = await self.exchange.cancel(order, height)
        await self.holds.at(Step.AFTER_CANCEL_BROADCAST)
        report = await record_cancel_outcome(self.uow, [(order, before)], submission, height)
        log.info("order_cancel_sent", outcome=submission.outcome.value)
        if submission.outcome is Outcome.REJECTED and report.failed:
            failure = report.failed[0]
            raise OrderNotCancelable(failure.message, **failure.details)
        return order, report

    async def cancel_many(
        self,
        caller: Caller,
        *,
        order_ids: Sequence[uuid.UUID] | None = None,
        market: str | None = None,
        audit: CancelAudit | None = None,
    ) -> CancelReport:
        """Cancel the given orders, or every open order (optionally of one market): the orders
        as stored afterwards, and those the cancel failed for (service/cancels.py). ``audit``
        writes the audit entry of each cancel in the transaction that marks it requested."""
        if order_ids:
            targets = [await self.get(oid, caller) for oid in order_ids]
        else:
            if market is not None:
                self.exchange.market(market)  # UnknownMarket for a typo
            targets = [
                o
                for o in await self._every_non_final()
                if (market is None or o.market == market) and caller.sees(o)
            ]
        # PENDING orders too: one being placed now, or left by a crash, may reach the chain.
        live = [o for o in targets if not o.status.is_final]
        if live:
            self.exchange.ensure_writable()
        height = self.exchange.latest_height()
        short = [o for o in live if o.is_short_term]
        stateful = [o for o in live if not o.is_short_term]
        done = CancelReport()
        # Short-term: MsgBatchCancel per subaccount, at most 100 cancels per message.
        by_sub: dict[int, list[Order]] = defaultdict(list)
        for o in short:
            by_sub[o.subaccount_number].append(o)
        for sub, orders in by_sub.items():
            for i in range(0, len(orders), MAX_BATCH_CANCELS):
                chunk = orders[i : i + MAX_BATCH_CANCELS]
                with self.writes.enter():
                    done.add(await self._batch_cancel_chunk(sub, chunk, height, audit))
        for o in stateful:
            try:
                with self.writes.enter():
                    done.add((await self._cancel(o.id, caller, audit))[1])
            except OrderNotCancelable as e:
                done.orders.append(await self.get(o.id, caller))
                done.failed.append(CancelFailure(o.id, e.code, e.message, e.details))
        return done

    async def _every_non_final(self) -> list[Order]:
        """Every non-final order, a page at a time (no cap: a kill switch covers them all)."""
        found: list[Order] = []
        after: tuple[datetime, uuid.UUID] | None = None
        while True:
            async with self.uow() as uow:
                page = await uow.orders.non_final(limit=CANCEL_PAGE, after=after)
            found += page
            if len(page) < CANCEL_PAGE or page[-1].created_at is None:
                return found
            after = (page[-1].created_at, page[-1].id)

    async def _batch_cancel_chunk(
        self, subaccount: int, chunk: list[Order], height: int, audit: CancelAudit | None = None
    ) -> CancelReport:
        if self.gate is not None:
            await self.gate.admit_cancel(short_term=True, weight=BATCH_CANCEL_WEIGHT)
        async with self.uow() as uow:
            marked: list[tuple[Order, OrderStatus]] = []
            for o in chunk:
                fresh = await uow.orders.get_for_update(o.id)
                if fresh.status.is_final:
                    continue
                before = fresh.status
                if before is not OrderStatus.CANCEL_REQUESTED:
                    # A PENDING one is covered too: the cancel keeps its placement off the book
                    # (clob/7) or removes it.
                    await uow.orders.transition(
                        fresh, OrderStatus.CANCEL_REQUESTED, reason="batch cancel", height=height
                    )
                marked.append((fresh, before))
            if audit is not None and marked:
                await audit(uow, [o for o, _ in marked])
            await uow.commit()
        if not marked:
            return CancelReport()
        ids: dict[int, list[int]] = defaultdict(list)
        for o, _ in marked:
            ids[o.clob_pair_id].append(o.client_id)
        gtb = cancel_good_til_block(height, [o.good_til_block for o, _ in marked])
        # Sent with no pooled connection held (see _cancel).
        submission = await self.exchange.batch_cancel_short_term(subaccount, ids, gtb)
        log.info("orders_batch_cancel_sent", count=len(marked), outcome=submission.outcome.value)
        return await record_cancel_outcome(
            self.uow, marked, submission, height, what="batch cancel"
        )
