"""Fault holds for the crash tests: a write waits at a named step, so that a kill -9 of the
process lands exactly there (``tests/router/integration/reliability/matrix/``).

Every step is a boundary between two durable effects whose order recovery relies on: the
PENDING row, the broadcast, the stored outcome; CANCEL_REQUESTED, the cancel's broadcast, its
outcome. Off (empty) in production; set through ``DYDX_ROUTER_FAULT_HOLDS``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import structlog

log = structlog.get_logger(__name__)


class Step(StrEnum):
    #: A placement, signed, before its PENDING row is written.
    BEFORE_ROW = "before_row"
    #: After the row (and, for a stateful order, its signed tx) is stored, before the broadcast.
    BEFORE_BROADCAST = "before_broadcast"
    #: After the broadcast answered, before its outcome is stored.
    AFTER_BROADCAST = "after_broadcast"
    #: After CANCEL_REQUESTED is stored, before the cancel is broadcast.
    BEFORE_CANCEL_BROADCAST = "before_cancel_broadcast"
    #: After the cancel's broadcast answered, before its outcome is stored.
    AFTER_CANCEL_BROADCAST = "after_cancel_broadcast"


@dataclass(frozen=True, slots=True)
class FaultHolds:
    seconds: Mapping[Step, float] = field(default_factory=dict)

    async def at(self, step: Step) -> None:
        hold = self.seconds.get(step, 0.0)
        if hold > 0:
            log.warning("fault_hold", step=step.value, seconds=hold)
            await asyncio.sleep(hold)
