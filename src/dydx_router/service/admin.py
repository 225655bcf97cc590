"""Admin use cases: API keys, risk limits, the trading state. Each writes its audit entry in the
same transaction as the change, and notifies the other replicas (``store/notify.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

import structlog

from dydx_router.domain.access import Actor, ApiKey, AuditEntry
from dydx_router.domain.agent_limits import AgentLimits, AgentUsage
from dydx_router.domain.errors import (
    AdminScopeRestricted,
    ApiKeyNotFound,
    DomainError,
    SubaccountForbidden,
)
from dydx_router.domain.order import Order
from dydx_router.domain.risk import (
    LIMIT_NAMES,
    RiskLimits,
    RiskPolicy,
    TradingState,
    TradingStateRecord,
)
from dydx_router.service.agent_limits import AgentLimitsBook, day_start
from dydx_router.service.orders import Caller, OrderService, PlaceResult
from dydx_router.service.risk import ControlsSnapshot, RiskControls

log = structlog.get_logger(__name__)


def require_global_admin(caller: Caller, action: str) -> None:
    """Global actions (risk limits, the kill switch, the audit log) need an unrestricted key: a
    key restricted to some subaccounts acts only inside them."""
    if caller.subaccounts is not None:
        raise AdminScopeRestricted(
            f"{action} acts on every subaccount: it needs an admin key without a subaccount "
            "restriction",
            allowed=sorted(caller.subaccounts),
        )


def within(caller: Caller, key: ApiKey) -> bool:
    """Whether ``key`` lies inside what ``caller`` may administer: everything for an
    unrestricted admin, else only keys restricted to a subset of the caller's subaccounts."""
    if caller.subaccounts is None:
        return True
    return key.subaccounts is not None and key.subaccounts <= caller.subaccounts


def _limits_details(limits: RiskLimits) -> dict[str, Any]:
    values = {name: getattr(limits, name) for name in LIMIT_NAMES}
    return {k: None if v is None else str(v) for k, v in values.items()}


def agent_details(limits: AgentLimits) -> dict[str, Any]:
    markets = limits.allowed_markets
    return {
        "max_order_notional": _text(limits.max_order_notional),
        "max_daily_notional": _text(limits.max_daily_notional),
        "max_open_orders": limits.max_open_orders,
        "allowed_markets": None if markets is None else sorted(markets),
    }


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def create_api_key(
    uow: Any,
    actor: Actor,
    name: str,
    scopes: set[str],
    subaccounts: set[int] | None,
) -> tuple[ApiKey, str]:
    """Create a key (audited); the caller commits. Returns the key and its plaintext, once."""
    key, secret = await uow.api_keys.create(name, scopes, subaccounts)
    await uow.audit.record(
        actor,
        "api_key_created",
        str(key.id),
        name=key.name,
        scopes=sorted(key.scopes),
        subaccounts=None if key.subaccounts is None else sorted(key.subaccounts),
    )
    return key, secret


async def revoke_api_key(uow: Any, actor: Actor, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key (audited, every replica told); the caller commits."""
    key: ApiKey = await uow.api_keys.revoke(key_id)
    await uow.audit.record(actor, "api_key_revoked", str(key.id), name=key.name)
    return key


@dataclass(frozen=True, slots=True)
class TradingStateChange:
    record: TradingStateRecord
    canceled: Sequence[Order] = ()


@dataclass
class AdminService:
    uow: Any  # store.uow.UnitOfWorkFactory
    controls: RiskControls
    orders: OrderService
    on_keys_changed: Callable[[], None] = field(default=lambda: None)
    agents: AgentLimitsBook | None = None  # per-key agent limits in force (this replica)

    # --- API keys ---------------------------------------------------------------------------
    async def create_key(
        self,
        actor: Actor,
        caller: Caller,
        name: str,
        scopes: set[str],
        subaccounts: set[int] | None,
    ) -> tuple[ApiKey, str]:
        # A key restricted to some subaccounts cannot mint a key that reaches further.
        if caller.subaccounts is not None and (
            subaccounts is None or not subaccounts <= caller.subaccounts
        ):
            raise SubaccountForbidden(
                "this API key may only create keys limited to its own subaccounts "
                f"({sorted(caller.subaccounts)})",
                allowed=sorted(caller.subaccounts),
            )
        async with self.uow() as uow:
            key, secret = await create_api_key(uow, actor, name, scopes, subaccounts)
            await uow.commit()
        log.info("api_key_created", key_id=str(key.id), actor=actor.name)
        return key, secret

    async def list_keys(self, caller: Caller) -> list[ApiKey]:
        async with self.uow() as uow:
            keys: list[ApiKey] = await uow.api_keys.list_all()
        return [k for k in keys if within(caller, k)]

    async def revoke_key(self, actor: Actor, caller: Caller, key_id: uuid.UUID) -> ApiKey:
        async with self.uow() as uow:
            if caller.subaccounts is not None:
                # A key outside the caller's reach is not revealed to exist (404, as unknown).
                visible = [k for k in await uow.api_keys.list_all() if within(caller, k)]
                if key_id not in {k.id for k in visible}:
                    raise ApiKeyNotFound(f"api key {key_id} not found", key_id=str(key_id))
            key = await revoke_api_key(uow, actor, key_id)
            await uow.commit()
        self.on_keys_changed()  # this replica at once; the others on the notification
        log.info("api_key_revoked", key_id=str(key.id), actor=actor.name)
        return key

    # --- per-key agent limits ---------------------------------------------------------------
    async def _reachable(self, uow: Any, caller: Caller, key_id: uuid.UUID) -> ApiKey:
        """The key, if it exists and lies within what the caller may administer (else 404)."""
        for key in await uow.api_keys.list_all():
            if key.id == key_id and within(caller, key):
                return cast(ApiKey, key)
        raise ApiKeyNotFound(f"api key {key_id} not found", key_id=str(key_id))

    async def agent_limits(
        self, caller: Caller, key_id: uuid.UUID
    ) -> tuple[AgentLimits, AgentUsage, datetime]:
        """A key's stored agent limits and what it has used since 00:00 UTC."""
        day = day_start(datetime.now(UTC))
        async with self.uow() as uow:
            await self._reachable(uow, caller, key_id)
            limits: AgentLimits = await uow.agent_limits.get(key_id)
            usage: AgentUsage = await uow.agent_limits.usage(key_id, day)
        return limits, usage, day

    async def set_agent_limits(
        self, actor: Actor, caller: Caller, key_id: uuid.UUID, limits: AgentLimits
    ) -> None:
        async with self.uow() as uow:
            key = await self._reachable(uow, caller, key_id)
            await uow.agent_limits.put(key_id, limits, actor.key_id)
            await uow.audit.record(
                actor, "agent_limits_set", str(key_id), name=key.name, **agent_details(limits)
            )
            await uow.commit()
        if self.agents is not None:  # this replica at once; the others on the notification
            self.agents.apply(key_id, limits)
        log.info("agent_limits_set", key_id=str(key_id), actor=actor.name)

    async def delete_agent_limits(self, actor: Actor, caller: Caller, key_id: uuid.UUID) -> bool:
        async with self.uow() as uow:
            key = await self._reachable(uow, caller, key_id)
            deleted: bool = await uow.agent_limits.delete(key_id)
            if deleted:
                await uow.audit.record(actor, "agent_limits_deleted", str(key_id), name=key.name)
            await uow.commit()
        if self.agents is not None:
            self.agents.apply(key_id, AgentLimits())
        return deleted

    # --- risk limits ------------------------------------------------------------------------
    async def policy(self) -> RiskPolicy:
        """The stored limits over the safe defaults."""
        async with self.uow() as uow:
            policy: RiskPolicy = await uow.risk.policy()
        return replace(policy, defaults=self.controls.defaults)

    async def set_limits(self, actor: Actor, scope: str, limits: RiskLimits) -> RiskPolicy:
        """Replace the limits of ``scope`` (``*`` or a market)."""
        async with self.uow() as uow:
            await uow.risk.put(scope, limits, actor.key_id)
            await uow.audit.record(actor, "risk_limits_set", scope, **_limits_details(limits))
            policy: RiskPolicy = await uow.risk.policy()
            state = await uow.trading_state.get()
            await uow.commit()
        self.controls.apply(ControlsSnapshot(policy, state.state, state.reason))
        log.info("risk_limits_set", scope=scope, actor=actor.name)
        return replace(policy, defaults=self.controls.defaults)

    async def delete_limits(self, actor: Actor, scope: str) -> bool:
        async with self.uow() as uow:
            deleted: bool = await uow.risk.delete(scope)
            if deleted:
                await uow.audit.record(actor, "risk_limits_deleted", scope)
            policy = await uow.risk.policy()
            state = await uow.trading_state.get()
            await uow.commit()
        self.controls.apply(ControlsSnapshot(policy, state.state, state.reason))
        return deleted

    # --- trading state ----------------------------------------------------------------------
    async def trading_state(self) -> TradingStateRecord:
        async with self.uow() as uow:
            record: TradingStateRecord = await uow.trading_state.get()
        return self._enforced(record)

    def _enforced(self, record: TradingStateRecord) -> TradingStateRecord:
        """The state as enforced: REDUCE_ONLY while required risk limits are not set."""
        current = self.controls.current
        if record.state is TradingState.ACTIVE and current.state is not record.state:
            return replace(record, state=current.state, reason=current.reason)
        return record

    async def set_trading_state(
        self,
        actor: Actor,
        state: TradingState,
        reason: str,
        *,
        cancel_open_orders: bool = False,
    ) -> TradingStateChange:
        async with self.uow() as uow:
            before = await uow.trading_state.get()
            record: TradingStateRecord = await uow.trading_state.set(state, reason, actor.key_id)
            await uow.audit.record(
                actor,
                "trading_state_set",
                state.value,
                previous=before.state.value,
                reason=reason,
                cancel_open_orders=cancel_open_orders,
            )
            policy = await uow.risk.policy()
            await uow.commit()
        # This replica refuses orders from now on; the others when notified (milliseconds).
        self.controls.apply(ControlsSnapshot(policy, record.state, record.reason))
        log.warning("trading_state_set", state=state.value, actor=actor.name)
        record = self._enforced(record)
        canceled: list[Order] = []
        if cancel_open_orders:

            async def audit(uow: Any, orders: Sequence[Order]) -> None:
                # In the transaction that marks them CANCEL_REQUESTED: no order is canceled by
                # the kill switch without its audit entry, nor audited without being canceled.
                await uow.audit.record(
                    actor,
                    "orders_cancel_requested",
                    state.value,
                    order_ids=[str(o.id) for o in orders],
                )

            report = await self.orders.cancel_many(Caller.system(), audit=audit)
            failed = {f.order_id for f in report.failed}
            canceled = [o for o in report.orders if o.id not in failed]
            async with self.uow() as uow:
                await uow.audit.record(
                    actor,
                    "open_orders_canceled",
                    state.value,
                    count=len(canceled),
                    failed=len(failed),
                )
                await uow.commit()
        return TradingStateChange(record, canceled)

    # --- one order, one position (the operator console's controls) ----------------------------
    async def cancel_order(
        self, actor: Actor, caller: Caller, order_id: uuid.UUID, reason: str = ""
    ) -> Order:
        """Cancel one order, audited in the transaction that marks it CANCEL_REQUESTED (as the
        kill switch's cancels are): no cancel without its entry, no entry without the cancel."""

        async def audit(uow: Any, orders: Sequence[Order]) -> None:
            for o in orders:
                await uow.audit.record(
                    actor,
                    "order_cancel_requested",
                    str(o.id),
                    market=o.market,
                    status=o.status.value,
                    reason=reason,
                )

        order: Order = await self.orders.cancel(order_id, caller, audit=audit)
        log.warning("admin_order_cancel", order_id=str(order_id), actor=actor.name)
        return order

    async def close_position(
        self,
        actor: Actor,
        caller: Caller,
        market: str,
        subaccount: int | None,
        reason: str = "",
    ) -> PlaceResult:
        """Close a position with a reduce-only IOC order. The intent is audited before the order
        is placed (a close is never sent unaudited), its outcome afterwards; a caller outside
        the subaccount is refused before anything is written to the permanent log."""
        sub = self.orders.config.default_subaccount if subaccount is None else subaccount
        caller.check_subaccount(sub)
        async with self.uow() as uow:
            await uow.audit.record(
                actor, "position_close_requested", market, subaccount=subaccount, reason=reason
            )
            await uow.commit()
        try:
            result: PlaceResult = await self.orders.close_position(
                market, caller, subaccount_number=subaccount
            )
        except DomainError as e:
            async with self.uow() as uow:
                await uow.audit.record(actor, "position_close_failed", market, code=e.code)
                await uow.commit()
            raise
        async with self.uow() as uow:
            await uow.audit.record(
                actor,
                "position_close_placed",
                market,
                order_id=str(result.order.id),
                status=result.order.status.value,
            )
            await uow.commit()
        log.warning("admin_position_close", market=market, actor=actor.name)
        return result

    # --- audit ------------------------------------------------------------------------------
    async def audit(self, *, limit: int, before_id: int | None) -> list[AuditEntry]:
        async with self.uow() as uow:
            entries: list[AuditEntry] = await uow.audit.recent(limit=limit, before_id=before_id)
        return entries
