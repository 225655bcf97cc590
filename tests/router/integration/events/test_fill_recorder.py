"""The fill recorder on a real PostgreSQL with a scripted indexer: the fills of several orders
are found together, further back by height when newer fills pushed them off the first page,
stored once each, and an order whose fills are not all indexed yet stays to be asked again."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from dydx_router.domain.order import Order, OrderStatus
from dydx_router.service.events import EventHub
from dydx_router.service.fills import FillRecorder
from dydx_router.store.uow import UnitOfWorkFactory
from tests.router.integration.store.test_orders_repository import make_order

pytestmark = pytest.mark.integration


@dataclass
class VenueFill:
    id: uuid.UUID
    order_id: uuid.UUID | None
    size: Decimal
    created_at_height: int
    price: Decimal = Decimal("65000")
    fee: Decimal = Decimal("0.0325")
    side: str = "BUY"
    liquidity: str = "TAKER"
    type: str = "LIMIT"
    market: str = "BTC-USD"
    created_at: datetime = datetime(2026, 12, 7, tzinfo=UTC)
    subaccount_number: int = 0


class Indexer:
    """GET /v4/fills: newest first, ``page`` per call, bounded by height."""

    def __init__(self, fills: list[VenueFill], page: int) -> None:
        self.fills = sorted(fills, key=lambda f: -f.created_at_height)
        self.page = page
        self.calls: list[tuple[int, str, int | None]] = []
        self.limits: list[int] = []

    async def __call__(
        self, sub: int, market: str, before: int | None, limit: int
    ) -> list[VenueFill]:
        self.calls.append((sub, market, before))
        self.limits.append(limit)
        return [f for f in self.fills if before is None or f.created_at_height <= before][
            : min(self.page, limit)
        ]


async def filled(pool: Any, n: int, size: str) -> Order:
    o = make_order(n, status=OrderStatus.OPEN)
    async with UnitOfWorkFactory(pool)() as uow:
        await uow.orders.add(o, reason="accepted")
        await uow.orders.transition(
            o, OrderStatus.FILLED, reason="indexer: FILLED", filled_size=Decimal(size)
        )
        await uow.commit()
    return o


async def stored(pool: Any) -> dict[uuid.UUID, list[Decimal]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT order_id, size FROM fills ORDER BY size")
    out: dict[uuid.UUID, list[Decimal]] = {}
    for r in rows:
        out.setdefault(r["order_id"], []).append(r["size"])
    return out


async def test_fills_of_several_orders_found_together_and_further_back(clean_db: Any) -> None:
    a = await filled(clean_db, 1, "0.0123")
    b = await filled(clean_db, 2, "0.0123")
    others = [VenueFill(uuid.uuid4(), uuid.uuid4(), Decimal("0.001"), 100 + i) for i in range(5)]
    venue = Indexer(
        [
            # b's two fills, one old enough to be off the first page
            VenueFill(uuid.uuid4(), b.indexer_order_id, Decimal("0.0023"), 90),
            VenueFill(uuid.uuid4(), b.indexer_order_id, Decimal("0.0100"), 103),
            VenueFill(uuid.uuid4(), a.indexer_order_id, Decimal("0.0123"), 104),
            *others,
        ],
        page=4,
    )
    uow = UnitOfWorkFactory(clean_db)
    recorder = FillRecorder(EventHub(uow, retention_s=60), uow, venue, page_size=4)
    assert await recorder.record([a.id, b.id]) == set()
    assert await stored(clean_db) == {
        a.id: [Decimal("0.0123")],
        b.id: [Decimal("0.0023"), Decimal("0.0100")],
    }
    assert len(venue.calls) >= 2 and venue.calls[0] == (0, "BTC-USD", None)
    # Seen again (a later event of the same order): nothing stored twice, no request.
    calls = len(venue.calls)
    assert await recorder.record([a.id, b.id]) == set()
    assert len(venue.calls) == calls
    assert sum(len(v) for v in (await stored(clean_db)).values()) == 3


async def test_an_order_whose_fills_are_not_indexed_yet_is_still_short(clean_db: Any) -> None:
    a = await filled(clean_db, 1, "0.0123")
    venue = Indexer([VenueFill(uuid.uuid4(), a.indexer_order_id, Decimal("0.0100"), 5)], page=10)
    uow = UnitOfWorkFactory(clean_db)
    recorder = FillRecorder(EventHub(uow, retention_s=60), uow, venue)
    assert await recorder.record([a.id]) == {a.id}  # 0.0100 of 0.0123: asked again later
    venue.fills.insert(0, VenueFill(uuid.uuid4(), a.indexer_order_id, Decimal("0.0023"), 6))
    assert await recorder.record([a.id]) == set()
    assert sorted((await stored(clean_db))[a.id]) == [Decimal("0.0023"), Decimal("0.0100")]


async def test_the_first_page_is_sized_to_the_orders_and_further_pages_are_full(
    clean_db: Any,
) -> None:
    orders = [await filled(clean_db, n, "0.001") for n in range(1, 4)]
    # Newer fills of other orders than a small first page holds: the orders' own are further back.
    newer = [VenueFill(uuid.uuid4(), uuid.uuid4(), Decimal("0.001"), 200 + i) for i in range(60)]
    own = [VenueFill(uuid.uuid4(), o.indexer_order_id, Decimal("0.001"), 100) for o in orders]
    venue = Indexer([*own, *newer], page=1000)
    uow = UnitOfWorkFactory(clean_db)
    recorder = FillRecorder(EventHub(uow, retention_s=60), uow, venue, page_size=1000)
    assert await recorder.record([o.id for o in orders]) == set()
    # 2 per order + 32, not 1,000 fills rendered and parsed for 3; then a full page further back.
    assert venue.limits == [38, 1000]
    assert venue.calls[1] == (0, "BTC-USD", 222)  # the oldest of the first page
    assert sorted(await stored(clean_db)) == sorted(o.id for o in orders)
