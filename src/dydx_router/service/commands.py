"""What the order use cases take and give: the caller, the placement command and its result,
the service's configuration, and the per-write placement store."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from dydx_router.domain.errors import (
    SubaccountForbidden,
)
from dydx_router.domain.order import (
    Order,
    OrderStatus,
)
from dydx_router.domain.planning import OrderRequest
from dydx_router.service.ports import (
    ExposureGuard,
    UnitOfWorkFactory,
)

if TYPE_CHECKING:
    pass


# MsgBatchCancel carries at most 100 cancels (MaxMsgBatchCancelBatchSize,
# protocol/x/clob/types/constants.go).
MAX_BATCH_CANCELS = 100
# Orders read per page by a cancel-all.
CANCEL_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the API key, the subaccounts it may use (None: all), and whether it sees
    every order of those subaccounts (scope ``orders:all``, or an unrestricted admin) or only
    the orders it placed itself. Orders placed without a key (before keys were recorded, or by
    the service itself) are seen only by callers that see every order."""

    api_key_id: uuid.UUID | None = None
    subaccounts: frozenset[int] | None = None
    all_orders: bool = False

    @classmethod
    def system(cls) -> Caller:
        """The service itself (the kill switch): every order of every subaccount."""
        return cls(all_orders=True)

    def sees(self, order: Order) -> bool:
        if self.subaccounts is not None and order.subaccount_number not in self.subaccounts:
            return False
        return self.all_orders or order.api_key_id == self.api_key_id

    def check_subaccount(self, number: int) -> None:
        if self.subaccounts is not None and number not in self.subaccounts:
            raise SubaccountForbidden(
                f"this API key may not use subaccount {number}", subaccount=number
            )


# Writes the audit entry of cancels in the unit of work that marks them CANCEL_REQUESTED.
CancelAudit: TypeAlias = Callable[[Any, Sequence[Order]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """A placement as the API receives it (schema-validated, human units)."""

    request: OrderRequest
    subaccount_number: int
    client_order_id: str | None = None
    idempotency_key: str | None = None
    reason: str | None = None  # the caller's stated reason (not part of the fingerprint)
    # The fingerprint of what the caller asked when the order was derived from it (a close:
    # its size comes from the position, which the close itself changes).
    asked: str | None = None

    def fingerprint(self) -> str:
        """Stable hash of what was asked, so a reused idempotency key with a different body is
        told apart from a replay."""
        if self.asked is not None:
            return self.asked
        body = asdict(self.request) | {
            "subaccount_number": self.subaccount_number,
            "client_order_id": self.client_order_id,
        }
        text = json.dumps(body, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PlaceResult:
    order: Order
    replayed: bool = False
    # The broadcast's outcome when it could not be stored (the database failed after the
    # broadcast): ``order.status`` is what the stored row says; the reconciler records the truth.
    unrecorded: OrderStatus | None = None


@dataclass
class OrderServiceConfig:
    good_til_block_offset: int = 20
    default_good_til_seconds: int = 30 * 24 * 3600
    default_slippage_bps: int = 100
    default_subaccount: int = 0


class UowPlacements:
    """PlacementWrites over units of work: each write in a transaction of its own."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def next_client_id(self) -> int:
        async with self._uow() as uow:
            return await uow.orders.next_client_id()

    async def insert(
        self,
        order: Order,
        *,
        reason: str,
        height: int | None,
        guard: ExposureGuard | None = None,
    ) -> None:
        async with self._uow() as uow:
            if guard is not None:
                await guard(uow.orders, order)
            await uow.orders.add(order, reason=reason, height=height)
            await uow.commit()

    async def record(
        self,
        order: Order,
        target: OrderStatus,
        *,
        reason: str,
        height: int | None,
        **fields: Any,
    ) -> None:
        async with self._uow() as uow:
            await uow.orders.transition(order, target, reason=reason, height=height, **fields)
            await uow.commit()
