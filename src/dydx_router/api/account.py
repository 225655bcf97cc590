"""``GET /v1/fills`` and ``GET /v1/account``: what an automated trader reads between orders."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from dydx_router.api.agent_limits import AgentLimitsOut, AgentUsageOut
from dydx_router.api.auth import ReadCaller
from dydx_router.api.deps import ServicesDep
from dydx_router.api.fields import DecimalOut, SubaccountNumber, Ticker
from dydx_router.domain.access import ApiKey
from dydx_router.domain.agent_limits import AgentLimits, AgentUsage
from dydx_router.domain.errors import InvalidCursor
from dydx_router.domain.events import Fill
from dydx_router.domain.order import FINAL_STATUSES, OrderStatus
from dydx_router.domain.queries import Cursor, FillFilter, OrderFilter
from dydx_router.service.agent_limits import day_start
from dydx_router.service.fills import search_fills
from dydx_router.service.orders import OrderService

router = APIRouter(prefix="/v1", tags=["account"])
OPEN_STATUSES = tuple(s for s in OrderStatus if s not in FINAL_STATUSES)


class FillOut(BaseModel):
    id: uuid.UUID
    order_id: uuid.UUID
    market: str
    side: str
    price: DecimalOut
    size: DecimalOut
    fee: DecimalOut | None
    liquidity: str
    type: str
    subaccount: int
    created_at: datetime
    created_at_height: int

    @classmethod
    def of(cls, f: Fill) -> FillOut:
        return cls(
            id=f.id,
            order_id=f.order_id,
            market=f.market,
            side=f.side,
            price=f.price,
            size=f.size,
            fee=f.fee,
            liquidity=f.liquidity,
            type=f.type,
            subaccount=f.subaccount_number,
            created_at=f.created_at,
            created_at_height=f.created_at_height,
        )


class FillPage(BaseModel):
    fills: list[FillOut]
    next_cursor: str | None


class RateOut(BaseModel):
    per_second: float
    burst: int
    available: float


class KeyOut(BaseModel):
    id: uuid.UUID
    name: str
    scopes: list[str]
    subaccounts: list[int] | None
    rate_limits: dict[str, RateOut]
    agent_limits: AgentLimitsOut = Field(
        description="This key's own limits (null fields: none), as the pre-trade gate enforces "
        "them (docs/agents.md)"
    )
    agent_usage: AgentUsageOut


class RiskLimitsOut(BaseModel):
    max_order_size: DecimalOut | None
    max_order_notional: DecimalOut | None
    max_position_notional: DecimalOut | None
    max_open_orders: int | None
    price_band_bps: int | None
    max_slippage_bps: int | None


class AccountOut(BaseModel):
    subaccount: int
    equity: DecimalOut | None
    free_collateral: DecimalOut | None
    # (equity - free collateral) / equity: the share of equity backing positions and orders.
    margin_usage: DecimalOut | None
    open_orders: int
    trading_state: str
    trading_state_reason: str
    risk_limits: RiskLimitsOut
    api_key: KeyOut | None
    source: str


def _cursor(text: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())
        created, ident = json.loads(raw)
        return datetime.fromisoformat(created), uuid.UUID(ident)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidCursor("the cursor is not one this API returned") from exc


def _encode(f: Fill) -> str:
    raw = json.dumps([f.created_at.isoformat(), str(f.id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@router.get("/fills", response_model=FillPage, summary="Fills of your orders, newest first")
async def fills(
    caller: ReadCaller,
    services: ServicesDep,
    market: Ticker | None = None,
    order_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> FillPage:
    # What the key may read, as GET /v1/orders: its subaccounts, its own orders.
    found = await search_fills(
        services.uow,
        FillFilter(
            market=market,
            order_id=order_id,
            since=since,
            until=until,
            subaccounts=None if caller.subaccounts is None else tuple(sorted(caller.subaccounts)),
            placed_by=None if caller.all_orders else (caller.api_key_id,),
        ),
        limit=limit,
        cursor=_cursor(cursor) if cursor else None,
    )
    return FillPage(
        fills=[FillOut.of(f) for f in found],
        next_cursor=_encode(found[-1]) if len(found) == limit else None,
    )


async def _open_orders(service: OrderService, caller: ReadCaller, sub: int) -> int:
    count, cursor = 0, None
    while True:
        page = await service.search(
            OrderFilter(statuses=OPEN_STATUSES), caller, limit=500, cursor=cursor
        )
        count += sum(1 for o in page if o.subaccount_number == sub)
        if len(page) < 500:
            return count
        assert page[-1].created_at is not None
        cursor = Cursor(page[-1].created_at, page[-1].id)


@router.get("/account", response_model=AccountOut, summary="Collateral, limits and usage")
async def account(
    request: Request,
    caller: ReadCaller,
    services: ServicesDep,
    subaccount: Annotated[SubaccountNumber | None, Query()] = None,
) -> AccountOut:
    service = services.orders
    sub = service.config.default_subaccount if subaccount is None else subaccount
    snap = await service.account(sub, caller)
    usage = None
    if snap.equity and snap.free_collateral is not None and snap.equity > 0:
        usage = ((snap.equity - snap.free_collateral) / snap.equity).quantize(Decimal("0.0001"))
    controls = services.gate.controls if services.gate is not None else None
    limits = controls.limits_for("*")[0] if controls is not None else None
    key: ApiKey | None = getattr(request.state, "api_key", None)
    gate = services.gate
    agent = gate.agents.limits_for(caller.api_key_id) if gate and gate.agents else AgentLimits()
    day = day_start(datetime.now(UTC))
    async with services.uow() as tx:
        spent = await tx.agent_limits.usage(key.id, day) if key is not None else AgentUsage()
    return AccountOut(
        subaccount=sub,
        equity=snap.equity,
        free_collateral=snap.free_collateral,
        margin_usage=usage,
        open_orders=await _open_orders(service, caller, sub),
        trading_state=controls.state.value if controls is not None else "UNKNOWN",
        trading_state_reason=controls.current.reason if controls is not None else "",
        risk_limits=RiskLimitsOut(
            max_order_size=limits.max_order_size if limits else None,
            max_order_notional=limits.max_order_notional if limits else None,
            max_position_notional=limits.max_position_notional if limits else None,
            max_open_orders=limits.max_open_orders if limits else None,
            price_band_bps=limits.price_band_bps if limits else None,
            max_slippage_bps=limits.max_slippage_bps if limits else None,
        ),
        api_key=None
        if key is None
        else KeyOut(
            id=key.id,
            name=key.name,
            scopes=sorted(key.scopes),
            subaccounts=None if key.subaccounts is None else sorted(key.subaccounts),
            rate_limits={
                scope: RateOut(per_second=r.per_second, burst=r.burst, available=left)
                for scope, (r, left) in services.rate_limiter.usage(key.id).items()
            },
            agent_limits=AgentLimitsOut.of(agent),
            agent_usage=AgentUsageOut.of(spent, day),
        ),
        source=snap.source,
    )
