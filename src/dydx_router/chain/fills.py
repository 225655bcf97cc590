"""The average price of one order's fills, read back from the indexer's REST API.

``GET /v4/fills`` has no order filter (comlink ``public/swagger.json``: address, subaccount, market,
height or time bound, page), so the order's fills are found among its subaccount's, newest first
from the height of the order's last update, until they add up to the total the indexer states for
it.

Reading only the market's latest 1,000 fills, as the gateway did, missed the fills of an order
that 1,000 newer fills of the subaccount had pushed out: under load that was most orders, stored
FILLED with no price, or with the price of only some of their fills.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from dydx_router.chain.indexer import IndexerClient
from dydx_router.domain.order import Order
from dydx_router.domain.sync import average_fill_price

PAGE_SIZE = 1000  # the indexer's maximum (comlink's API_LIMIT_V4)
PAGES_MAX = 10


async def order_fill_price(
    indexer: IndexerClient,
    order: Order,
    total_filled: Decimal,
    last_height: int | None,
    tick_size: Decimal | None,
) -> Decimal | None:
    """The size-weighted price of the order's fills; None when they cannot all be found within
    ``PAGES_MAX`` pages: an unknown price, never the price of only some of the fills."""
    mine: dict[uuid.UUID, tuple[Decimal, Decimal]] = {}
    before = last_height
    for _ in range(PAGES_MAX):
        page = await indexer.fills(
            order.address,
            order.subaccount_number,
            market=order.market,
            limit=PAGE_SIZE,
            created_before_or_at_height=before,
        )
        for f in page.fills:
            if f.order_id == order.indexer_order_id:
                mine[f.id] = (f.price, f.size)
        if sum((size for _, size in mine.values()), Decimal(0)) >= total_filled:
            return average_fill_price(mine.values(), tick_size)
        if len(page.fills) < PAGE_SIZE:
            return None
        oldest = min(f.created_at_height for f in page.fills)
        if before is not None and oldest >= before:
            return None  # one block holds more fills than a page: no way further back
        before = oldest
    return None
