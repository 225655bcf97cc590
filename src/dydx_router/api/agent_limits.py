"""Per-key agent limits: ``/v1/admin/api-keys/{key_id}/limits`` (scope ``admin``), and their
view in ``GET /v1/account`` (domain/agent_limits.py has the rules, docs/agents.md the why)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from dydx_router.api.auth import AdminCaller
from dydx_router.api.deps import Admin, Exchange
from dydx_router.api.fields import DecimalOut, PositiveDecimal, Ticker
from dydx_router.api.schemas import Strict
from dydx_router.domain.access import Actor, ApiKey
from dydx_router.domain.agent_limits import AgentLimits, AgentUsage
from dydx_router.domain.errors import AgentLimitsNotFound
from dydx_router.service.admin import AdminService
from dydx_router.service.orders import Caller

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class AgentLimitsBody(Strict):
    """Omitted or null: no limit. ``allowed_markets: []`` allows no market at all."""

    max_order_notional: PositiveDecimal | None = Field(
        default=None, description="USD: size x max(price, oracle price) of one order."
    )
    max_daily_notional: PositiveDecimal | None = Field(
        default=None, description="USD: the notional of the key's orders since 00:00 UTC."
    )
    max_open_orders: Annotated[int, Field(ge=0, le=100_000)] | None = Field(
        default=None, description="The key's non-final orders, every market and subaccount."
    )
    allowed_markets: Annotated[list[Ticker], Field(max_length=1000)] | None = Field(
        default=None, description="The only markets the key may place orders in."
    )

    def to_limits(self) -> AgentLimits:
        markets = self.allowed_markets
        return AgentLimits(
            max_order_notional=self.max_order_notional,
            max_daily_notional=self.max_daily_notional,
            max_open_orders=self.max_open_orders,
            allowed_markets=None if markets is None else frozenset(markets),
        )


class AgentLimitsOut(BaseModel):
    max_order_notional: DecimalOut | None
    max_daily_notional: DecimalOut | None
    max_open_orders: int | None
    allowed_markets: list[str] | None

    @classmethod
    def of(cls, limits: AgentLimits) -> AgentLimitsOut:
        markets = limits.allowed_markets
        return cls(
            max_order_notional=limits.max_order_notional,
            max_daily_notional=limits.max_daily_notional,
            max_open_orders=limits.max_open_orders,
            allowed_markets=None if markets is None else sorted(markets),
        )


class AgentUsageOut(BaseModel):
    daily_notional: DecimalOut = Field(description="USD placed since `day_started_at`.")
    open_orders: int
    day_started_at: datetime

    @classmethod
    def of(cls, usage: AgentUsage, day: datetime) -> AgentUsageOut:
        return cls(
            daily_notional=usage.daily_notional, open_orders=usage.open_orders, day_started_at=day
        )


class KeyAgentLimitsOut(BaseModel):
    api_key_id: uuid.UUID
    limits: AgentLimitsOut
    usage: AgentUsageOut


def _actor(request: Request) -> Actor:
    key: ApiKey = request.state.api_key
    return Actor(key.id, key.name)


async def _answer(service: AdminService, caller: Caller, key_id: uuid.UUID) -> KeyAgentLimitsOut:
    limits, usage, day = await service.agent_limits(caller, key_id)
    return KeyAgentLimitsOut(
        api_key_id=key_id, limits=AgentLimitsOut.of(limits), usage=AgentUsageOut.of(usage, day)
    )


@router.get(
    "/api-keys/{key_id}/limits",
    response_model=KeyAgentLimitsOut,
    summary="A key's agent limits and what it used today",
)
async def get_agent_limits(
    key_id: uuid.UUID, caller: AdminCaller, service: Admin
) -> KeyAgentLimitsOut:
    return await _answer(service, caller, key_id)


@router.put(
    "/api-keys/{key_id}/limits",
    response_model=KeyAgentLimitsOut,
    summary="Replace a key's agent limits (in force at once on every replica)",
)
async def put_agent_limits(
    key_id: uuid.UUID,
    body: AgentLimitsBody,
    request: Request,
    caller: AdminCaller,
    service: Admin,
    exchange: Exchange,
) -> KeyAgentLimitsOut:
    for market in body.allowed_markets or ():
        exchange.market(market)  # UnknownMarket (400) for a typo
    await service.set_agent_limits(_actor(request), caller, key_id, body.to_limits())
    return await _answer(service, caller, key_id)


@router.delete(
    "/api-keys/{key_id}/limits",
    response_model=KeyAgentLimitsOut,
    summary="Remove a key's agent limits",
)
async def delete_agent_limits(
    key_id: uuid.UUID, request: Request, caller: AdminCaller, service: Admin
) -> KeyAgentLimitsOut:
    if not await service.delete_agent_limits(_actor(request), caller, key_id):
        raise AgentLimitsNotFound(f"api key {key_id} has no agent limits")
    return await _answer(service, caller, key_id)
