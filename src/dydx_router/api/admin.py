"""Admin routes (scope ``admin``): API keys, risk limits, the trading state, the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from dydx_router.api.auth import AdminCaller
from dydx_router.api.deps import Admin, Exchange
from dydx_router.api.fields import DecimalOut, PositiveDecimal, StoredText, SubaccountNumber, Ticker
from dydx_router.api.schemas import Strict
from dydx_router.domain.access import Actor, ApiKey
from dydx_router.domain.errors import RiskLimitsNotFound
from dydx_router.domain.risk import GLOBAL, RiskLimits, RiskPolicy, TradingState, TradingStateRecord
from dydx_router.service.admin import require_global_admin

router = APIRouter(prefix="/v1/admin", tags=["admin"])

Scope = Literal["read", "trade", "admin", "orders:all"]
Bps = Annotated[int, Field(ge=1, le=10_000)]


def _actor(request: Request) -> Actor:
    key: ApiKey = request.state.api_key
    return Actor(key.id, key.name)


# --- API keys -----------------------------------------------------------------------------------
class ApiKeyCreateBody(Strict):
    name: Annotated[
        str, Field(min_length=1, max_length=100, pattern=r"^[\x20-\x7e]*\S[\x20-\x7e]*$")
    ]
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=4)]
    subaccounts: Annotated[list[SubaccountNumber], Field(min_length=1, max_length=1000)] | None = (
        None
    )


class ApiKeyOut(BaseModel):
    id: uuid.UUID
    name: str
    key_prefix: str
    scopes: list[str]
    subaccounts: list[int] | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            name=key.name,
            key_prefix=key.key_prefix,
            scopes=sorted(key.scopes),
            subaccounts=None if key.subaccounts is None else sorted(key.subaccounts),
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The API key itself: shown once, never stored or shown again.")


class ApiKeysOut(BaseModel):
    api_keys: list[ApiKeyOut]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, summary="Create a key")
async def create_api_key(
    body: ApiKeyCreateBody, request: Request, caller: AdminCaller, service: Admin
) -> ApiKeyCreated:
    key, secret = await service.create_key(
        _actor(request),
        caller,
        body.name,
        set(body.scopes),
        None if body.subaccounts is None else set(body.subaccounts),
    )
    return ApiKeyCreated(**ApiKeyOut.of(key).model_dump(), key=secret)


@router.get("/api-keys", response_model=ApiKeysOut, summary="Every key (never the keys)")
async def list_api_keys(request: Request, caller: AdminCaller, service: Admin) -> ApiKeysOut:
    keys = await service.list_keys(caller)
    return ApiKeysOut(api_keys=[ApiKeyOut.of(k) for k in keys])


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut, summary="Revoke a key")
async def revoke_api_key(
    key_id: uuid.UUID, request: Request, caller: AdminCaller, service: Admin
) -> ApiKeyOut:
    return ApiKeyOut.of(await service.revoke_key(_actor(request), caller, key_id))


# --- risk limits --------------------------------------------------------------------------------
class RiskLimitsBody(Strict):
    """Omitted or null: no limit (global) or the global limit (a market)."""

    max_order_size: PositiveDecimal | None = None
    max_order_notional: PositiveDecimal | None = None
    max_position_notional: PositiveDecimal | None = None
    max_open_orders: Annotated[int, Field(ge=0, le=100_000)] | None = None
    price_band_bps: Bps | None = None
    max_slippage_bps: Bps | None = None

    def to_limits(self) -> RiskLimits:
        return RiskLimits(**self.model_dump())


class RiskLimitsOut(BaseModel):
    max_order_size: DecimalOut | None
    max_order_notional: DecimalOut | None
    max_position_notional: DecimalOut | None
    max_open_orders: int | None
    price_band_bps: int | None
    max_slippage_bps: int | None

    @classmethod
    def of(cls, limits: RiskLimits) -> RiskLimitsOut:
        return cls(
            max_order_size=limits.max_order_size,
            max_order_notional=limits.max_order_notional,
            max_position_notional=limits.max_position_notional,
            max_open_orders=limits.max_open_orders,
            price_band_bps=limits.price_band_bps,
            max_slippage_bps=limits.max_slippage_bps,
        )


class RiskPolicyOut(BaseModel):
    global_limits: RiskLimitsOut = Field(alias="global", serialization_alias="global")
    markets: dict[str, RiskLimitsOut] = Field(
        description="Per-market overrides (null fields inherit the global limit)."
    )
    defaults: RiskLimitsOut = Field(
        description="The service's safe defaults (settings): in force wherever no limit is set."
    )
    configured: bool = Field(
        description="Whether the global limits were ever set (testnet and mainnet trade "
        "REDUCE_ONLY until they are)."
    )
    effective: dict[str, RiskLimitsOut] = Field(
        description="The limits in force: `*` for every market without overrides, and each "
        "market that has overrides."
    )

    @classmethod
    def of(cls, policy: RiskPolicy) -> RiskPolicyOut:
        return cls.model_validate(
            {
                "global": RiskLimitsOut.of(policy.global_limits),
                "markets": {m: RiskLimitsOut.of(lim) for m, lim in policy.markets},
                "defaults": RiskLimitsOut.of(policy.defaults),
                "configured": policy.configured,
                "effective": {
                    GLOBAL: RiskLimitsOut.of(policy.global_limits.over(policy.defaults)),
                    **{m: RiskLimitsOut.of(policy.limits_for(m)) for m, _ in policy.markets},
                },
            }
        )


@router.get("/risk-limits", response_model=RiskPolicyOut, summary="The risk limits")
async def get_risk_limits(request: Request, caller: AdminCaller, service: Admin) -> RiskPolicyOut:
    return RiskPolicyOut.of(await service.policy())


@router.put(
    "/risk-limits/global", response_model=RiskPolicyOut, summary="Replace the global limits"
)
async def put_global_limits(
    body: RiskLimitsBody, request: Request, caller: AdminCaller, service: Admin
) -> RiskPolicyOut:
    require_global_admin(caller, "setting risk limits")
    policy = await service.set_limits(_actor(request), GLOBAL, body.to_limits())
    return RiskPolicyOut.of(policy)


@router.put(
    "/risk-limits/markets/{market}",
    response_model=RiskPolicyOut,
    summary="Replace a market's limit overrides",
)
async def put_market_limits(
    market: Ticker,
    body: RiskLimitsBody,
    request: Request,
    caller: AdminCaller,
    service: Admin,
    exchange: Exchange,
) -> RiskPolicyOut:
    require_global_admin(caller, "setting risk limits")
    exchange.market(market)  # UnknownMarket (400) for a typo
    policy = await service.set_limits(_actor(request), market, body.to_limits())
    return RiskPolicyOut.of(policy)


@router.delete(
    "/risk-limits/markets/{market}",
    response_model=RiskPolicyOut,
    summary="Remove a market's overrides",
)
async def delete_market_limits(
    market: Ticker, request: Request, caller: AdminCaller, service: Admin
) -> RiskPolicyOut:
    require_global_admin(caller, "deleting risk limits")
    service = service
    if not await service.delete_limits(_actor(request), market):
        raise RiskLimitsNotFound(f"{market} has no limit overrides")
    return RiskPolicyOut.of(await service.policy())


# --- trading state ------------------------------------------------------------------------------
class TradingStateBody(Strict):
    state: TradingState
    reason: Annotated[StoredText, Field(max_length=500)] = ""
    cancel_open_orders: bool = Field(
        default=False, description="Also cancel every open order (best effort, after the change)."
    )


class TradingStateOut(BaseModel):
    state: TradingState
    reason: str
    updated_at: datetime
    updated_by: uuid.UUID | None
    canceled_orders: list[uuid.UUID] | None = None

    @classmethod
    def of(cls, r: TradingStateRecord, canceled: list[uuid.UUID] | None = None) -> TradingStateOut:
        return cls(
            state=r.state,
            reason=r.reason,
            updated_at=r.updated_at,
            updated_by=r.updated_by,
            canceled_orders=canceled,
        )


@router.get("/trading-state", response_model=TradingStateOut, summary="The kill switch")
async def get_trading_state(
    request: Request, caller: AdminCaller, service: Admin
) -> TradingStateOut:
    return TradingStateOut.of(await service.trading_state())


@router.post(
    "/trading-state",
    response_model=TradingStateOut,
    summary="Set the kill switch: ACTIVE | REDUCE_ONLY | HALTED",
)
async def set_trading_state(
    body: TradingStateBody, request: Request, caller: AdminCaller, service: Admin
) -> TradingStateOut:
    require_global_admin(caller, "the kill switch")
    change = await service.set_trading_state(
        _actor(request), body.state, body.reason, cancel_open_orders=body.cancel_open_orders
    )
    canceled = [o.id for o in change.canceled] if body.cancel_open_orders else None
    return TradingStateOut.of(change.record, canceled)


# --- audit --------------------------------------------------------------------------------------
class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_key_id: uuid.UUID | None
    actor: str
    action: str
    target: str | None
    details: dict[str, object]


class AuditOut(BaseModel):
    entries: list[AuditEntryOut]


@router.get("/audit", response_model=AuditOut, summary="Admin actions, newest first")
async def audit(
    request: Request,
    caller: AdminCaller,
    service: Admin,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> AuditOut:
    require_global_admin(caller, "the audit log")
    entries = await service.audit(limit=limit, before_id=before_id)
    return AuditOut(
        entries=[AuditEntryOut.model_validate(e, from_attributes=True) for e in entries]
    )
