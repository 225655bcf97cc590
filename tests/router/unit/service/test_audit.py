"""The audit use case over hand-written fakes of its two read-only ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tests.router.unit.domain.test_audit import NOW, order

from dydx_router.audit_cli import parse_since
from dydx_router.domain.audit import Verdict
from dydx_router.domain.order import Order, OrderStatus
from dydx_router.domain.sync import VenueOrder, VenueStatus
from dydx_router.service.audit import OrderAudit, disagreements
from dydx_router.service.ports import ChainHeights

S, V = OrderStatus, VenueStatus


class FakeStored:
    def __init__(self, orders: list[Order]) -> None:
        self.orders = orders
        self.asked: list[tuple[datetime | None, int]] = []

    async def pages(self, since: datetime | None, page_size: int) -> AsyncIterator[Sequence[Order]]:
        self.asked.append((since, page_size))
        chosen = [o for o in self.orders if since is None or (o.created_at or NOW) >= since]
        for i in range(0, len(chosen), page_size):
            yield chosen[i : i + page_size]


class FakeChain:
    def __init__(self, venues: dict[object, VenueOrder | None], height: int = 50) -> None:
        self.venues = venues
        self.height = height
        self.height_reads = 0

    async def heights(self) -> ChainHeights:
        self.height_reads += 1
        return ChainHeights(self.height, self.height, NOW)

    async def venue_order(self, o: Order) -> VenueOrder | None:
        return self.venues.get(o.indexer_order_id)


def _venue(status: VenueStatus, filled: str = "0") -> VenueOrder:
    return VenueOrder(status, Decimal(filled))


async def test_each_order_is_judged_and_sorted_by_verdict() -> None:
    agreeing = order(S.FILLED, "1")
    lying = order(S.EXPIRED, "1")  # the chain filled it
    in_flight = order(S.SUBMITTED)
    chain = FakeChain(
        {
            agreeing.indexer_order_id: _venue(V.FILLED, "1"),
            lying.indexer_order_id: _venue(V.FILLED, "1"),
        }
    )
    stored = FakeStored([agreeing, lying, in_flight])
    report = await OrderAudit(stored, chain, clock=lambda: NOW, page_size=2).run()
    assert report.checked == 3
    assert [a.order for a in report.disagreements] == [lying]
    assert report.disagreements[0].finding.verdict is Verdict.DISAGREES
    assert [a.order for a in report.indeterminate] == [in_flight]
    assert not report.agrees
    # heights are read again for every page, before its orders and after them
    assert chain.height_reads == 4


async def test_disagreements_is_empty_when_the_router_told_the_truth() -> None:
    o = order(S.OPEN, stateful=True)
    chain = FakeChain({o.indexer_order_id: _venue(V.OPEN)})
    assert await disagreements(FakeStored([o]), chain, clock=lambda: NOW) == []
    chain.venues[o.indexer_order_id] = _venue(V.CANCELED)
    found = await disagreements(FakeStored([o]), chain, clock=lambda: NOW)
    assert [a.order for a in found] == [o]


async def test_the_window_is_passed_to_the_store() -> None:
    old = order(S.FILLED, "1", created_at=NOW - timedelta(days=2))
    new = order(S.OPEN, created_at=NOW)
    stored = FakeStored([old, new])
    chain = FakeChain({})  # neither is on the indexer: the old one would disagree
    since = NOW - timedelta(hours=1)
    report = await OrderAudit(stored, chain, clock=lambda: NOW).run(since)
    assert stored.asked == [(since, 500)]
    assert report.checked == 1 and [a.order for a in report.disagreements] == [new]


def test_since_takes_all_a_duration_or_a_time() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert parse_since("all", now) is None
    assert parse_since("90s", now) == now - timedelta(seconds=90)
    assert parse_since("15m", now) == now - timedelta(minutes=15)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-30T08:00:00", now) == datetime(2026, 11, 30, 8, tzinfo=UTC)
    assert parse_since("2026-11-30T08:00:00+02:00", now) == datetime(2026, 11, 30, 6, tzinfo=UTC)
    with pytest.raises(ValueError, match="--since 'soon'"):
        parse_since("soon", now)
