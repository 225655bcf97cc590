"""Reading orders, markets and the account, as a caller may see them (mixed into
`OrderService`, service/orders.py)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from dydx_router.domain.errors import (
    OrderNotFound,
    UnknownMarket,
)
from dydx_router.domain.order import (
    Order,
)
from dydx_router.domain.queries import Cursor, OrderFilter
from dydx_router.service.commands import Caller, OrderServiceConfig
from dydx_router.service.faults import FaultHolds
from dydx_router.service.lifecycle import WriteGate
from dydx_router.service.ports import (
    AccountSnapshot,
    Clock,
    Exchange,
    MarketView,
    PlacementWrites,
    UnitOfWorkFactory,
)

if TYPE_CHECKING:
    from dydx_router.service.risk import PreTradeGate


class OrderQueries:
    """Reads; the base of the placing and cancelling use cases."""

    # The fields of `OrderService` (service/orders.py), which builds them.
    uow: UnitOfWorkFactory
    exchange: Exchange
    config: OrderServiceConfig
    clock: Clock
    gate: PreTradeGate | None
    writes: WriteGate
    placements: PlacementWrites | None
    placing: set[uuid.UUID]
    holds: FaultHolds
    follow: Callable[[int], None] | None

    # --- read -------------------------------------------------------------------------------
    async def get(self, order_id: uuid.UUID, caller: Caller) -> Order:
        async with self.uow() as uow:
            order = await uow.orders.get(order_id)
        if not caller.sees(order):  # 404: another key's order is not revealed to exist
            raise OrderNotFound(f"order {order_id} not found", order_id=str(order_id))
        return order

    async def search(
        self,
        filters: OrderFilter,
        caller: Caller,
        *,
        limit: int,
        cursor: Cursor | None,
    ) -> list[Order]:
        if caller.subaccounts is not None or not caller.all_orders:
            allowed = (
                None
                if caller.subaccounts is None
                else tuple((self.exchange.address, n) for n in sorted(caller.subaccounts))
            )
            filters = dataclasses.replace(
                filters,
                subaccounts=allowed,
                placed_by=None if caller.all_orders else (caller.api_key_id,),
            )
        async with self.uow() as uow:
            return await uow.orders.search(filters, limit=limit, cursor=cursor)

    def markets(self) -> Sequence[MarketView]:
        return self.exchange.markets()

    async def account(self, subaccount_number: int, caller: Caller) -> AccountSnapshot:
        caller.check_subaccount(subaccount_number)
        return await self.exchange.account(subaccount_number)

    def _market_label(self, ticker: str) -> str:
        """The ticker if it is a market of the chain, so a caller's typo cannot add a series."""
        try:
            self.exchange.market(ticker)
        except UnknownMarket:
            return "unknown"
        return ticker
