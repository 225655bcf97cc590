"""Use cases: place, cancel, close, and read orders and positions: `OrderService`.

Its parts: reads (service/order_queries.py), placing (service/placing.py, write-ahead: persist
PENDING and commit, then broadcast, then record the outcome; a write whose outcome is unknown is
never retried with new identifiers), cancelling (service/cancelling.py), closing a position (here);
what they take and give is in service/commands.py.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from dydx_router.domain.errors import (
    InvalidOrder,
    NoPosition,
)
from dydx_router.domain.market import Side
from dydx_router.domain.order import (
    OrderType,
)
from dydx_router.domain.planning import OrderRequest
from dydx_router.service.cancelling import Cancelling
from dydx_router.service.commands import (
    CANCEL_PAGE,
    MAX_BATCH_CANCELS,
    Caller,
    CancelAudit,
    OrderServiceConfig,
    PlaceOrder,
    PlaceResult,
    UowPlacements,
)
from dydx_router.service.faults import FaultHolds
from dydx_router.service.lifecycle import WriteGate
from dydx_router.service.placing import Placing
from dydx_router.service.ports import (
    Clock,
    Exchange,
    PlacementWrites,
    UnitOfWorkFactory,
)

if TYPE_CHECKING:
    from dydx_router.service.risk import PreTradeGate

__all__ = [
    "CANCEL_PAGE",
    "MAX_BATCH_CANCELS",
    "Caller",
    "CancelAudit",
    "OrderService",
    "OrderServiceConfig",
    "PlaceOrder",
    "PlaceResult",
    "UowPlacements",
]


@dataclass
class OrderService(Placing, Cancelling):
    uow: UnitOfWorkFactory
    exchange: Exchange
    config: OrderServiceConfig = field(default_factory=OrderServiceConfig)
    clock: Clock = field(default=lambda: datetime.now(UTC))
    # Kill switch, risk limits and the chain's rate, checked before anything is persisted.
    gate: PreTradeGate | None = None
    # Writes in flight, so that a shutdown lets them finish (service/lifecycle.py).
    writes: WriteGate = field(default_factory=WriteGate)
    # Where placements write their PENDING row and outcome (store.batch.PlacementWriter groups
    # concurrent ones into one commit); default: a unit of work per write.
    placements: PlacementWrites | None = None
    # Orders between their PENDING row and their recorded outcome in this process: the
    # reconciler leaves these to their placement.
    placing: set[uuid.UUID] = field(default_factory=set)
    # Fault injection for crash tests (settings.fault_holds; off in production).
    holds: FaultHolds = field(default_factory=FaultHolds)
    # Called with the subaccount of every order about to be broadcast, so that the status
    # stream follows it (workers/follow.py); must not block.
    follow: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        if self.placements is None:
            self.placements = UowPlacements(self.uow)

    # --- positions --------------------------------------------------------------------------
    async def close_position(
        self,
        market: str,
        caller: Caller,
        *,
        subaccount_number: int | None = None,
        size: Decimal | None = None,
        max_slippage_bps: int | None = None,
        idempotency_key: str | None = None,
        client_order_id: str | None = None,
        reason: str | None = None,
    ) -> PlaceResult:
        """A reduce-only IOC market order on the opposite side, like v4-client-py-v2
        ``NodeClient.close_position`` (``dydx_v4_client/node/client.py``).

        With an ``idempotency_key``, a retry answers the close placed the first time, found by
        the key and the close's own parameters before the position is read: once the first
        close filled, the position it was sized from is gone (or smaller)."""
        sub = self.config.default_subaccount if subaccount_number is None else subaccount_number
        caller.check_subaccount(sub)
        self.exchange.market(market)
        asked = None
        if idempotency_key is not None:
            asked = _close_fingerprint(market, sub, size, max_slippage_bps, client_order_id)
            existing = await self._replay(caller, idempotency_key, asked)
            if existing is not None:
                return PlaceResult(existing, replayed=True)
        account = await self.exchange.account(sub)
        position = next((p for p in account.positions if p.market == market and p.size), None)
        if position is None:
            raise NoPosition(
                f"there is no open {market} position in subaccount {sub}",
                market=market,
                subaccount=sub,
            )
        held = abs(position.size)
        if size is not None:
            if size <= 0:
                raise InvalidOrder("size must be positive", code="invalid_size")
            if size > held:
                raise InvalidOrder(
                    f"size {size} exceeds the {market} position of {held}",
                    code="size_exceeds_position",
                    position_size=str(held),
                )
        request = OrderRequest(
            market=market,
            side=Side.SELL if position.size > 0 else Side.BUY,
            type=OrderType.MARKET,
            size=held if size is None else size,
            reduce_only=True,
            max_slippage_bps=max_slippage_bps,
        )
        return await self.place(
            PlaceOrder(
                request=request,
                subaccount_number=sub,
                client_order_id=client_order_id,
                idempotency_key=idempotency_key,
                asked=asked,
                reason=reason,
            ),
            caller,
        )


def _close_fingerprint(
    market: str, sub: int, size: Decimal | None, slippage: int | None, client_order_id: str | None
) -> str:
    body = {
        "close": market,
        "subaccount_number": sub,
        "size": None if size is None else str(size),
        "max_slippage_bps": slippage,
        "client_order_id": client_order_id,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
