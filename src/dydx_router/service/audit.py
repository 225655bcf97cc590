"""The audit: every stored order compared with what the chain shows (``dydx-router audit``).

Read only on both sides. Orders are read a page at a time, oldest first; for each page the node's
and the indexer's heights are read first, then each order's indexer view, so the heights bound
what a view can miss (``domain.audit``). The verdict of each order is ``domain.audit.compare``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dydx_router.domain.audit import DEFAULT_RULES, AuditRules, ChainView, Finding, Verdict, compare
from dydx_router.domain.order import Order
from dydx_router.domain.sync import VenueOrder
from dydx_router.service.ports import ChainHeights, ChainObserver, Clock, StoredOrders


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AuditedOrder:
    order: Order
    finding: Finding


@dataclass(slots=True)
class AuditReport:
    checked: int = 0
    disagreements: list[AuditedOrder] = field(default_factory=list)
    indeterminate: list[AuditedOrder] = field(default_factory=list)
    heights: ChainHeights | None = None  # as read for the last page

    @property
    def agrees(self) -> bool:
        return not self.disagreements


class OrderAudit:
    def __init__(
        self,
        stored: StoredOrders,
        chain: ChainObserver,
        *,
        rules: AuditRules = DEFAULT_RULES,
        clock: Clock = _utcnow,
        concurrency: int = 8,
        page_size: int = 500,
    ) -> None:
        self._stored = stored
        self._chain = chain
        self._rules = rules
        self._clock = clock
        self._gate = asyncio.Semaphore(concurrency)
        self._page_size = page_size

    async def run(self, since: datetime | None = None) -> AuditReport:
        """Compare every order created since ``since`` (all if None) with the chain."""
        report = AuditReport()
        async for page in self._stored.pages(since, self._page_size):
            heights = await self._chain.heights()
            venues = await asyncio.gather(*(self._venue(o) for o in page))
            # Read again: an order absent from the indexer may have expired meanwhile.
            after = await self._chain.heights()
            observed_at = self._clock()
            for order, venue in zip(page, venues, strict=True):
                view = ChainView(
                    venue,
                    heights.node_height,
                    heights.indexer_height,
                    heights.indexer_time,
                    observed_at,
                    after.node_height,
                )
                finding = compare(order, view, self._rules)
                if finding.verdict is Verdict.DISAGREES:
                    report.disagreements.append(AuditedOrder(order, finding))
                elif finding.verdict is Verdict.INDETERMINATE:
                    report.indeterminate.append(AuditedOrder(order, finding))
            report.checked += len(page)
            report.heights = heights
        return report

    async def _venue(self, order: Order) -> VenueOrder | None:
        async with self._gate:
            return await self._chain.venue_order(order)


async def disagreements(
    stored: StoredOrders,
    chain: ChainObserver,
    *,
    since: datetime | None = None,
    rules: AuditRules = DEFAULT_RULES,
    clock: Clock = _utcnow,
) -> Sequence[AuditedOrder]:
    """Every stored order (created since ``since``) whose status the chain contradicts: the
    check a test runs at the end of a scenario (empty when the router told the truth)."""
    return (await OrderAudit(stored, chain, rules=rules, clock=clock).run(since)).disagreements
