"""An order's fill price read back from the indexer's fills: found however many newer fills of
the subaccount there are, and never the price of only some of its fills."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from tests.router.integration.store.test_orders_repository import make_order

from dydx_router.chain.fills import order_fill_price
from dydx_router.chain.indexer_models import Fill, FillsPage


class FakeIndexer:
    """``GET /v4/fills`` as comlink answers it: newest first, at most ``limit``, bounded by
    ``createdBeforeOrAtHeight``."""

    def __init__(self) -> None:
        self.rows: list[Fill] = []
        self.calls = 0

    def add(self, height: int, price: str, order_id: uuid.UUID | None) -> None:
        self.rows.append(
            Fill.model_validate(
                {
                    "id": str(uuid.uuid4()),
                    "side": "BUY",
                    "liquidity": "TAKER",
                    "type": "LIMIT",
                    "market": "BTC-USD",
                    "marketType": "PERPETUAL",
                    "price": price,
                    "size": "0.001",
                    "fee": "0",
                    "affiliateRevShare": "0",
                    "createdAt": "2026-01-01T00:00:00.000Z",
                    "createdAtHeight": str(height),
                    "orderId": str(order_id or uuid.uuid4()),
                    "subaccountNumber": 0,
                }
            )
        )

    async def fills(self, *args: Any, limit: int, created_before_or_at_height: int | None = None,
                    **kwargs: Any) -> FillsPage:  # fmt: skip
        self.calls += 1
        rows = [
            f
            for f in reversed(self.rows)
            if created_before_or_at_height is None
            or f.created_at_height <= created_before_or_at_height
        ]
        return FillsPage(fills=rows[:limit])


async def test_the_fills_of_an_order_pushed_out_by_newer_fills_are_found() -> None:
    order = make_order(1, order_flags=0)
    indexer = FakeIndexer()
    for height in range(2, 12):  # 400 fills of other orders a block, 2,000 after the order's
        if height == 3:
            indexer.add(height, "100", order.indexer_order_id)
        if height == 6:
            indexer.add(height, "102", order.indexer_order_id)  # its last update: height 6
        for _ in range(400):
            indexer.add(height, "999", None)
    price = await order_fill_price(indexer, order, Decimal("0.002"), 6, Decimal("1"))  # type: ignore[arg-type]
    assert price == Decimal("101.0")
    assert indexer.calls == 2  # heights 6-4, then 4-2 (height 4 read twice, deduplicated)


async def test_fills_that_do_not_add_up_give_no_price() -> None:
    order = make_order(1, order_flags=0)
    indexer = FakeIndexer()
    indexer.add(10, "100", order.indexer_order_id)  # one of its two fills
    price = await order_fill_price(indexer, order, Decimal("0.002"), 12, Decimal("1"))  # type: ignore[arg-type]
    assert price is None
