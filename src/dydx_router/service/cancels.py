"""What came of a cancel: the stored statuses and the answer follow the broadcast's outcome.

- accepted (or already done: the order is gone, a cancel is pending): the orders stay
  CANCEL_REQUESTED, and the status stream or the reconciler settles them (cancels are best effort
  until the order's expiry, dydxprotocol/v4-documentation PR #265);
- rejected: nothing was cancelled. Each order goes back to the status it had before (unless the
  venue moved it meanwhile), and the answer lists it as not cancelled with the chain's error;
- unknown (no answer): the cancel may or may not have reached the chain, so the orders stay
  CANCEL_REQUESTED, and the answer says the outcome is unknown (cancel again to be sure; a second
  cancel of a removed order is harmless).

The broadcast runs without a pooled connection held; the outcome is written in a transaction
of its own (``record_cancel_outcome``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dydx_router.domain.errors import OrderNotCancelable
from dydx_router.domain.order import Order, OrderStatus
from dydx_router.service.ports import Outcome, Submission, UnitOfWorkFactory

# What a refused cancel restores; anything else (UNKNOWN) was live as far as anyone knows.
_RESTORABLE = frozenset(
    {
        OrderStatus.OPEN,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.UNTRIGGERED,
        OrderStatus.SUBMITTED,
    }
)


@dataclass(frozen=True, slots=True)
class CancelFailure:
    """An order the cancel did not (or may not have) reached the chain for."""

    order_id: uuid.UUID
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class CancelReport:
    """The orders a cancel was about, as stored after it, and those it failed for."""

    orders: list[Order] = field(default_factory=list)
    failed: list[CancelFailure] = field(default_factory=list)

    def add(self, other: CancelReport) -> None:
        self.orders += other.orders
        self.failed += other.failed


def restored(before: OrderStatus) -> OrderStatus:
    return before if before in _RESTORABLE else OrderStatus.OPEN


async def record_cancel_outcome(
    uow: UnitOfWorkFactory,
    marked: Sequence[tuple[Order, OrderStatus]],
    submission: Submission,
    height: int,
    *,
    what: str = "cancel",
) -> CancelReport:
    """Store and report what ``submission`` means for the ``marked`` orders (each with the
    status it had before it was marked CANCEL_REQUESTED)."""
    report = CancelReport()
    err = submission.error
    if submission.outcome is Outcome.REJECTED:
        reason = f"{what} rejected: {err.codespace}/{err.code}" if err else f"{what} rejected"
        details: dict[str, Any] = {
            "codespace": err.codespace if err else None,
            "chain_code": err.code if err else None,
        }
        message = f"the chain refused the {what}: {err.log if err else 'rejected'}"
        async with uow() as tx:
            for order, before in marked:
                fresh = await tx.orders.get_for_update(order.id)
                # Not if an earlier cancel is still pending, nor if the venue moved it meanwhile.
                # A PENDING order's request stands: its placement (or the reconciler) sees it
                # and withdraws or cancels it later.
                if before not in (OrderStatus.CANCEL_REQUESTED, OrderStatus.PENDING) and (
                    fresh.status is OrderStatus.CANCEL_REQUESTED
                ):
                    await tx.orders.transition(
                        fresh, restored(before), reason=reason, height=height
                    )
                report.orders.append(fresh)
                if before is not OrderStatus.PENDING:
                    report.failed.append(
                        CancelFailure(order.id, OrderNotCancelable.code, message, details)
                    )
            await tx.commit()
        return report
    report.orders = [order for order, _ in marked]
    if submission.outcome is Outcome.UNKNOWN:
        why = err.log if err else "no answer"
        report.failed = [
            CancelFailure(
                order.id,
                "cancel_outcome_unknown",
                f"the {what}'s outcome is unknown ({why}): the order stays CANCEL_REQUESTED; "
                "cancel again to be sure",
            )
            for order, _ in marked
        ]
    return report
