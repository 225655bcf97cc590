"""What a listing asks for: the filters of the orders and fills listings and the keyset cursor
of their pages. Pure values; the store turns them into SQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from dydx_router.domain.market import Side
from dydx_router.domain.order import OrderStatus


@dataclass(frozen=True, slots=True)
class OrderFilter:
    market: str | None = None
    status: OrderStatus | None = None
    side: Side | None = None
    since: datetime | None = None
    until: datetime | None = None
    subaccounts: tuple[tuple[str, int], ...] | None = None
    # Only the orders placed by this API key (a 1-tuple; (None,): orders placed without a key).
    placed_by: tuple[uuid.UUID | None] | None = None
    # Any of these statuses (?status=OPEN,UNTRIGGERED); the caller's own id for the order.
    statuses: tuple[OrderStatus, ...] | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Keyset position: the (created_at, id) of the last row of the previous page."""

    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class FillFilter:
    market: str | None = None
    order_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    subaccounts: tuple[int, ...] | None = None
    # Only fills of orders placed by this key (a 1-tuple, as OrderFilter.placed_by).
    placed_by: tuple[uuid.UUID | None] | None = None
