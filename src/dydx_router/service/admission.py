"""What an order admitted by the pre-trade gate (service/risk.py) holds until it is persisted,
and the re-check of its exposure against every replica's committed orders.

The gate's first check uses this replica's snapshot plus its own reservations: fast, but other
replicas' orders appear only at the next refresh. When a limit needs the exposure, the admission
also carries a guard that the placement's insert runs under the lock of the order's (address,
subaccount, market), against what every replica has committed there (store/exposure.py), so N
replicas together accept exactly what the limit allows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from dydx_router.domain.order import Order
from dydx_router.domain.risk import ProposedOrder, RiskLimits, check_order
from dydx_router.service.agent_limits import AgentReservation
from dydx_router.service.ports import ExposureGuard, GuardReads

if TYPE_CHECKING:
    from dydx_router.service.risk import Reservation


def exposure_guard(
    order: ProposedOrder,
    limits: RiskLimits,
    *,
    scope: str | dict[str, str],
    oracle: Decimal | None,
    position: Decimal,
) -> ExposureGuard:
    """The same check as the gate's, on the committed open orders of every replica and the
    position the gate's snapshot had (positions move by fills, which no replica writes)."""

    async def guard(reads: GuardReads, placed: Order) -> None:
        committed = await reads.locked_exposure(placed)
        exposure = replace(committed, position=position)
        check_order(order, limits, scope=scope, oracle=oracle, exposure=exposure)

    return guard


@dataclass
class Admission:
    """What an admitted order holds until it is persisted: its exposure, its key's usage, and
    the guard its insert runs (None: no limit needs the exposure)."""

    reservation: Reservation | None = None
    agent: AgentReservation | None = None
    exposure_guard: ExposureGuard | None = None

    @property
    def guard(self) -> ExposureGuard | None:
        """Both re-checks in one, the exposure's lock first (the one order of locks)."""
        agent = self.agent.guard if self.agent is not None else None
        guards = [g for g in (self.exposure_guard, agent) if g is not None]
        if not guards:
            return None
        if len(guards) == 1:
            return guards[0]

        async def both(reads: GuardReads, placed: Order) -> None:
            for g in guards:
                await g(reads, placed)

        return both

    def committed(self) -> None:
        for held in (self.reservation, self.agent):
            if held is not None:
                held.committed()

    def release(self) -> None:
        for held in (self.reservation, self.agent):
            if held is not None:
                held.release()
