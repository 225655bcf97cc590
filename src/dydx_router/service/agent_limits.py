"""Per-key agent limits on the order path (domain/agent_limits.py has the rules).

- The limits of every key are kept in memory, reloaded when PostgreSQL notifies a change
  (``store/notify.py``, ``agent_limits``: every replica within milliseconds of the admin's
  commit) and polled every ``refresh_s`` as a backstop for a lost notification. A key without
  limits costs the order path one dictionary look-up.
- A key's usage (the notional it placed since 00:00 UTC, its non-final orders) is read from
  PostgreSQL when an order needs it and the last read is older than ``usage_max_age_s``; the
  orders this process admitted since are added from memory (reservations, as the exposure book
  of service/risk.py does), so a burst within one read is counted exactly on this replica.
  Orders placed through other replicas are seen at the next read; open orders that became final
  are released at the next read (the count can only overstate meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from dydx_router.domain.agent_limits import (
    AgentLimits,
    AgentUsage,
    check_agent_order,
    order_notional,
)
from dydx_router.domain.errors import RiskDataUnavailable
from dydx_router.domain.order import Order
from dydx_router.service.ports import ExposureGuard, GuardReads

log = structlog.get_logger(__name__)

# A reservation whose order never committed (the request failed) stops counting after this.
ABANDONED_AFTER_S = 5.0


def day_start(now: datetime) -> datetime:
    """00:00 UTC of ``now``'s day: the daily notional starts again there."""
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(slots=True)
class AgentReservation:
    """An order admitted by this process and not yet in a usage read of its key."""

    key: uuid.UUID
    notional: Decimal
    reserved_at: float
    book: AgentLimitsBook
    committed_at: float | None = None
    # The same check against what every replica has committed, run by the order's insert
    # under a lock per key (store/exposure.py); None when no limit needs the usage.
    guard: ExposureGuard | None = None

    def committed(self) -> None:
        self.committed_at = self.book.clock()

    def release(self) -> None:
        self.book.drop(self)


@dataclass(slots=True)
class _Usage:
    taken_at: float
    day: datetime
    usage: AgentUsage
    pending: list[AgentReservation] = field(default_factory=list)


class AgentLimitsBook:
    def __init__(
        self,
        load_limits: Callable[[], Awaitable[dict[uuid.UUID, AgentLimits]]],
        load_usage: Callable[[uuid.UUID, datetime], Awaitable[AgentUsage]],
        *,
        refresh_s: float = 1.0,
        usage_max_age_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._load_limits = load_limits
        self._load_usage = load_usage
        self._refresh_s = refresh_s
        self._max_age = usage_max_age_s
        self.clock = clock
        self._now = now
        self.limits: dict[uuid.UUID, AgentLimits] = {}
        self.loaded = False
        self._usage: dict[uuid.UUID, _Usage] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        self._wake = asyncio.Event()

    # --- limits -----------------------------------------------------------------------------
    def limits_for(self, key: uuid.UUID | None) -> AgentLimits:
        return self.limits.get(key, AgentLimits()) if key is not None else AgentLimits()

    async def reload(self) -> None:
        self._replace(await self._load_limits())
        self.loaded = True

    def apply(self, key: uuid.UUID, limits: AgentLimits) -> None:
        """Take a value just written by this process (the notification follows anyway)."""
        new = {k: v for k, v in self.limits.items() if k != key}
        if not limits.empty:
            new[key] = limits
        self._replace(new)

    def _replace(self, new: dict[uuid.UUID, AgentLimits]) -> None:
        for key in self.limits.keys() | new.keys():
            held = self._usage.get(key)
            if held is not None and self.limits.get(key) != new.get(key):
                # Orders admitted while the key had other (or no) limits held no reservation:
                # the next check reads the usage again rather than trust the last read.
                held.taken_at = float("-inf")
        self.limits = new

    def changed(self) -> None:
        """A notification arrived: reload now (called from the listener, not awaited)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._refresh_s)
            self._wake.clear()
            try:
                await self.reload()
            except (OSError, TimeoutError, Exception) as exc:  # keep the last known limits
                log.warning("agent_limits_reload_failed", error=type(exc).__name__)

    # --- usage ------------------------------------------------------------------------------
    async def usage(self, key: uuid.UUID) -> AgentUsage:
        """The key's usage now: the last read (fresh enough) plus this process's reservations."""
        day = day_start(self._now())
        held = self._usage.get(key)
        if held is None or held.day != day or self.clock() - held.taken_at > self._max_age:
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                held = self._usage.get(key)
                if held is None or held.day != day or self.clock() - held.taken_at > self._max_age:
                    held = await self._read(key, day, held)
        pending = sum((r.notional for r in held.pending), Decimal(0))
        return held.usage.plus(pending, len(held.pending))

    async def _read(self, key: uuid.UUID, day: datetime, old: _Usage | None) -> _Usage:
        taken_at = self.clock()
        try:
            usage = await self._load_usage(key, day)
        except Exception as exc:  # any failure to read: fail closed
            raise RiskDataUnavailable(
                "this API key's usage (today's notional, open orders) could not be read: its "
                "agent limits cannot be checked; retry shortly",
                reason=type(exc).__name__,
            ) from exc
        # Reservations committed before the read began are in it now.
        pending = [r for r in (old.pending if old else []) if not _seen(r, taken_at)]
        held = _Usage(taken_at, day, usage, pending)
        self._usage[key] = held
        return held

    def reserve(self, key: uuid.UUID, notional: Decimal) -> AgentReservation:
        r = AgentReservation(key, notional, self.clock(), self)
        held = self._usage.get(key)
        if held is not None:
            held.pending.append(r)
        return r

    def drop(self, r: AgentReservation) -> None:
        held = self._usage.get(r.key)
        if held is not None:
            with contextlib.suppress(ValueError):
                held.pending.remove(r)

    # --- the check --------------------------------------------------------------------------
    async def check(
        self,
        key: uuid.UUID | None,
        *,
        market: str,
        size: Decimal,
        price: Decimal,
        reduce_only: bool,
        oracle: Callable[[str], Decimal | None],
    ) -> AgentReservation | None:
        """Raise ``AgentLimitBreached`` if the key's limits refuse the order; else reserve its
        notional and open-order slot (None for a key without limits). ``oracle`` is asked only
        for a key with limits: a stale price (``PriceStale``) fails them closed, and never
        touches a key without any."""
        if key is None:
            return None
        limits = self.limits.get(key)
        if limits is None:
            return None
        notional = order_notional(size, price, oracle(market))
        usage = None
        if limits.needs_usage:
            usage = await self.usage(key)
        # No await between the check and the reservation: concurrent orders see each other.
        check_agent_order(
            market=market, notional=notional, reduce_only=reduce_only, limits=limits, usage=usage
        )
        if not limits.needs_usage:
            return None
        r = self.reserve(key, notional)
        day = day_start(self._now())

        async def guard(reads: GuardReads, placed: Order) -> None:
            committed = await reads.locked_agent_usage(key, day)
            check_agent_order(
                market=market, notional=notional, reduce_only=reduce_only, limits=limits,
                usage=committed,
            )  # fmt: skip

        r.guard = guard
        return r


def _seen(r: AgentReservation, taken_at: float) -> bool:
    if r.committed_at is not None:
        return r.committed_at < taken_at
    return r.reserved_at < taken_at - ABANDONED_AFTER_S


def agent_limits_book(uow: Any, *, refresh_s: float, usage_max_age_s: float) -> AgentLimitsBook:
    """The book over units of work (the composition root's wiring)."""

    async def load_limits() -> dict[uuid.UUID, AgentLimits]:
        async with uow() as tx:
            limits: dict[uuid.UUID, AgentLimits] = await tx.agent_limits.all()
        return limits

    async def load_usage(key: uuid.UUID, day: datetime) -> AgentUsage:
        async with uow() as tx:
            usage: AgentUsage = await tx.agent_limits.usage(key, day)
        return usage

    return AgentLimitsBook(
        load_limits, load_usage, refresh_s=refresh_s, usage_max_age_s=usage_max_age_s
    )
