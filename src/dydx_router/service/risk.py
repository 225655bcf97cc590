"""Pre-trade controls on the order path: the kill switch, the risk limits and the chain's rate.

Nothing here costs a database round trip per order:

- ``RiskControls`` keeps the limits and the trading state in memory. They are reloaded when
  PostgreSQL notifies a change (``store/notify.py``: every replica within milliseconds of the
  commit) and polled every ``refresh_s`` as a backstop for lost notifications.
- ``ExposureBook`` keeps, per subaccount, the positions (from the indexer, the node if it is
  down) and the non-final orders (from PostgreSQL), refreshed in the background every
  ``refresh_s`` while a limit needs them. Orders admitted since a snapshot are added from memory
  (reservations), so a burst within one refresh is counted exactly on this replica; orders placed
  by other replicas are seen at their next refresh.

A snapshot is consistent in one direction: the open orders are read *before* the positions, so an
order that was already final when read is in the position, and one still open is counted in
full (its remaining size) even if it fills in between: the projection can only overstate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import structlog

from dydx_router.domain.errors import RiskDataUnavailable
from dydx_router.domain.market import Side
from dydx_router.domain.planning import OrderPlan, OrderRequest
from dydx_router.domain.risk import (
    GLOBAL,
    Exposure,
    OpenOrder,
    ProposedOrder,
    RiskLimits,
    RiskPolicy,
    TradingState,
    check_order,
    check_trading_state,
)
from dydx_router.service.admission import Admission, exposure_guard
from dydx_router.service.agent_limits import AgentLimitsBook
from dydx_router.service.ports import AccountSnapshot
from dydx_router.service.throttle import ChainThrottle, Kind

log = structlog.get_logger(__name__)


DEFAULT = "default"  # the scope named when a safe default (settings) is breached
UNCONFIGURED = (
    "risk limits not set on this network: only reduce_only orders until an admin sets them "
    "(PUT /v1/admin/risk-limits/global)"
)


@dataclass(frozen=True, slots=True)
class ControlsSnapshot:
    policy: RiskPolicy
    state: TradingState
    reason: str = ""


class RiskControls:
    """The limits and the trading state, in memory, reloaded on notification and by polling."""

    def __init__(
        self,
        load: Callable[[], Awaitable[ControlsSnapshot]],
        *,
        refresh_s: float = 1.0,
        defaults: RiskLimits | None = None,
        require_configured: bool = False,
    ) -> None:
        self._load = load
        self._refresh_s = refresh_s
        # Safe defaults under every stored limit (settings; docs/security.md), and whether
        # trading waits in REDUCE_ONLY until an operator sets the global limits (testnet and
        # mainnet: a fresh install must not trade without limits someone chose).
        self.defaults = defaults or RiskLimits()
        self.require_configured = require_configured
        self._limits: dict[str, tuple[ControlsSnapshot, RiskLimits, str | dict[str, str]]] = {}
        self._wake = asyncio.Event()
        # Fail closed until the first load: no order passes before the state is known.
        self.current = ControlsSnapshot(RiskPolicy(), TradingState.HALTED, "not loaded yet")
        self.loaded = False

    @property
    def state(self) -> TradingState:
        return self.current.state

    def limits_for(self, market: str) -> tuple[RiskLimits, str | dict[str, str]]:
        # Per market, until the controls change: the order path pays no merging of limits.
        hit = self._limits.get(market)
        if hit is not None and hit[0] is self.current:
            return hit[1], hit[2]
        policy = self.current.policy
        scope: str | dict[str, str] = (
            market if any(name == market for name, _ in policy.markets) else GLOBAL
        )
        defaulted = policy.defaulted(market)
        if defaulted:
            scope = {"": str(scope)} | dict.fromkeys(defaulted, DEFAULT)
        limits = policy.limits_for(market)
        self._limits[market] = (self.current, limits, scope)
        return limits, scope

    def effective(self, snapshot: ControlsSnapshot) -> ControlsSnapshot:
        """The stored controls as enforced: over the defaults, and REDUCE_ONLY while limits
        are required and not set."""
        policy = replace(snapshot.policy, defaults=self.defaults)
        if (
            self.require_configured
            and not policy.configured
            and snapshot.state is TradingState.ACTIVE
        ):
            return ControlsSnapshot(policy, TradingState.REDUCE_ONLY, UNCONFIGURED)
        return ControlsSnapshot(policy, snapshot.state, snapshot.reason)

    async def reload(self) -> None:
        self.current = self.effective(await self._load())
        self.loaded = True

    def apply(self, snapshot: ControlsSnapshot) -> None:
        """Take a value just written by this process (the notification follows anyway)."""
        self.current = self.effective(snapshot)
        self.loaded = True

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
            except (OSError, TimeoutError, Exception) as exc:  # keep the last known controls
                log.warning("risk_controls_reload_failed", error=type(exc).__name__)


@dataclass(slots=True)
class Reservation:
    """An order admitted by this process and not yet in an exposure snapshot."""

    subaccount: int
    market: str
    side: Side
    size: Decimal
    reserved_at: float
    committed_at: float | None = None
    book: ExposureBook | None = None

    def committed(self) -> None:
        """The order's row is committed: the next snapshot read after now includes it."""
        if self.book is not None:
            self.committed_at = self.book.clock()

    def release(self) -> None:
        """The order was not persisted: stop counting it."""
        if self.book is not None:
            self.book.drop(self)


@dataclass(slots=True)
class _Snapshot:
    taken_at: float
    positions: dict[str, Decimal]
    open_buy: dict[str, Decimal]
    open_sell: dict[str, Decimal]
    open_count: dict[str, int]


# A reservation whose order never committed (the request failed) stops counting after this.
ABANDONED_AFTER_S = 5.0


class ExposureBook:
    def __init__(
        self,
        open_orders: Callable[[], Awaitable[Sequence[OpenOrder]]],
        account: Callable[[int], Awaitable[AccountSnapshot]],
        *,
        refresh_s: float = 1.0,
        max_age_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_orders = open_orders
        self._account = account
        self._refresh_s = refresh_s
        self._max_age = max_age_s
        self.clock = clock
        self._snapshots: dict[int, _Snapshot] = {}
        self._reservations: list[Reservation] = []
        # Per (subaccount, market): [orders, buy size, sell size] of the reservations, so the
        # order path adds them in O(1) however many are pending.
        self._pending: dict[tuple[int, str], list[Any]] = {}
        self._lock = asyncio.Lock()
        self.wanted: set[int] = set()

    async def refresh(self, subaccounts: Sequence[int], *, unless_fresh: bool = False) -> None:
        async with self._lock:
            if unless_fresh and all(self._fresh(s) for s in subaccounts):
                return  # a concurrent caller refreshed while we waited for the lock
            taken_at = self.clock()
            rows = await self._open_orders()
            accounts = await asyncio.gather(*(self._account(s) for s in subaccounts))
            for sub, account in zip(subaccounts, accounts, strict=True):
                snap = _Snapshot(
                    taken_at,
                    {p.market: p.size for p in account.positions},
                    defaultdict(Decimal),
                    defaultdict(Decimal),
                    defaultdict(int),
                )
                for row in rows:
                    if row.subaccount_number != sub:
                        continue
                    side = snap.open_buy if row.side is Side.BUY else snap.open_sell
                    side[row.market] += row.remaining
                    snap.open_count[row.market] += 1
                self._snapshots[sub] = snap
            self._reservations = [r for r in self._reservations if not self._seen(r)]
            self._pending = {}
            for r in self._reservations:
                self._count(r, 1)

    def _seen(self, r: Reservation) -> bool:
        snap = self._snapshots.get(r.subaccount)
        if snap is None:
            return False
        if r.committed_at is not None:
            return r.committed_at < snap.taken_at
        return r.reserved_at < snap.taken_at - ABANDONED_AFTER_S

    def _fresh(self, sub: int) -> bool:
        snap = self._snapshots.get(sub)
        return snap is not None and self.clock() - snap.taken_at <= self._max_age

    async def exposure(self, sub: int, market: str) -> Exposure:
        """The subaccount's exposure in ``market``; loads it now if missing or too old."""
        self.wanted.add(sub)
        if not self._fresh(sub):
            try:
                await self.refresh([sub], unless_fresh=True)
            except Exception as exc:  # any failure to read the world: fail closed
                raise RiskDataUnavailable(
                    "the position and open orders could not be read: the limits cannot be "
                    "checked; retry shortly",
                    reason=type(exc).__name__,
                ) from exc
        snap = self._snapshots[sub]
        count, buy, sell = self._pending.get((sub, market), (0, Decimal(0), Decimal(0)))
        return Exposure(
            snap.positions.get(market, Decimal(0)),
            snap.open_buy[market] + buy,
            snap.open_sell[market] + sell,
            snap.open_count[market] + count,
        )

    def _count(self, r: Reservation, sign: int) -> None:
        agg = self._pending.setdefault((r.subaccount, r.market), [0, Decimal(0), Decimal(0)])
        agg[0] += sign
        agg[1 if r.side is Side.BUY else 2] += sign * r.size

    def reserve(self, sub: int, market: str, side: Side, size: Decimal) -> Reservation:
        r = Reservation(sub, market, side, size, self.clock(), book=self)
        if sub in self._snapshots:
            self._reservations.append(r)
            self._count(r, 1)
        return r

    def drop(self, r: Reservation) -> None:
        try:
            self._reservations.remove(r)
        except ValueError:
            return  # already in a snapshot, or never counted
        self._count(r, -1)

    async def run(self, needed: Callable[[], bool]) -> None:
        """Keep the snapshots of the subaccounts in use fresh while a limit needs them."""
        while True:
            await asyncio.sleep(self._refresh_s)
            if not needed() or not self.wanted:
                continue
            try:
                await self.refresh(sorted(self.wanted))
            except Exception as exc:  # the order path fails closed once snapshots grow old
                log.warning("exposure_refresh_failed", error=type(exc).__name__)


@dataclass
class PreTradeGate:
    """Everything an order must pass before it is persisted: state, limits, chain rate."""

    controls: RiskControls
    exposure: ExposureBook
    oracle_price: Callable[[str], Decimal | None]
    throttle: ChainThrottle | None = None
    # Per-key agent limits (service/agent_limits.py); None: not wired (unit tests).
    agents: AgentLimitsBook | None = None

    def needs_exposure(self) -> bool:
        policy = self.controls.current.policy
        return policy.global_limits.needs_exposure or any(
            limits.needs_exposure for _, limits in policy.markets
        )

    async def check(
        self, req: OrderRequest, plan: OrderPlan, subaccount: int, key: uuid.UUID | None = None
    ) -> Admission:
        """Raise if the order may not be placed; else reserve its exposure and its key's usage
        (not yet a slot of the chain's rate)."""
        check_trading_state(self.controls.state, reduce_only=req.reduce_only)
        agent = None
        if self.agents is not None:
            agent = await self.agents.check(
                key, market=req.market, size=req.size, price=plan.price,
                reduce_only=req.reduce_only, oracle=self.oracle_price,
            )  # fmt: skip
        try:
            return await self._check_risk(req, plan, subaccount, Admission(agent=agent))
        except BaseException:
            if agent is not None:
                agent.release()
            raise

    async def _check_risk(
        self, req: OrderRequest, plan: OrderPlan, subaccount: int, admission: Admission
    ) -> Admission:
        limits, scope = self.controls.limits_for(req.market)
        if limits.empty:
            admission.reservation = self.exposure.reserve(
                subaccount, req.market, req.side, req.size
            )
            return admission
        exposure = None
        if limits.needs_exposure and not req.reduce_only:
            exposure = await self.exposure.exposure(subaccount, req.market)
        order = ProposedOrder(
            market=req.market, side=req.side, type=req.type, size=req.size, price=plan.price,
            reduce_only=req.reduce_only, slippage_bps=plan.slippage_bps,
            trigger_price=req.trigger_price,
        )  # fmt: skip
        oracle = self.oracle_price(req.market)
        check_order(order, limits, scope=scope, oracle=oracle, exposure=exposure)
        if exposure is not None:
            # Checked again at the insert against every replica's committed orders.
            admission.exposure_guard = exposure_guard(
                order, limits, scope=scope, oracle=oracle, position=exposure.position
            )
        # No await between the check and the reservation: concurrent orders see each other.
        admission.reservation = self.exposure.reserve(subaccount, req.market, req.side, req.size)
        return admission

    async def admit(
        self, req: OrderRequest, plan: OrderPlan, subaccount: int, key: uuid.UUID | None = None
    ) -> Admission:
        admission = await self.check(req, plan, subaccount, key)
        if self.throttle is not None:
            kind = Kind.PLACE_SHORT_TERM if plan.is_short_term else Kind.PLACE_STATEFUL
            try:
                await self.throttle.admit(kind)
            except BaseException:
                admission.release()
                raise
        return admission

    async def admit_cancel(self, *, short_term: bool, weight: int = 1) -> None:
        """Cancels are never refused by the kill switch or the limits, only by the chain's rate;
        stateful cancels are not rate limited by the chain."""
        if self.throttle is not None and short_term:
            await self.throttle.admit(Kind.CANCEL_SHORT_TERM, weight)


def controls_loader(uow: Any) -> Callable[[], Awaitable[ControlsSnapshot]]:
    """Read the limits and the state in one transaction."""

    async def load() -> ControlsSnapshot:
        async with uow() as tx:
            policy = await tx.risk.policy()
            state = await tx.trading_state.get()
        return ControlsSnapshot(policy, state.state, state.reason)

    return load
