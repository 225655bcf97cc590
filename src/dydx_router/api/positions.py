"""Positions and markets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from dydx_router.api.auth import ReadCaller, TradeCaller
from dydx_router.api.deps import Orders
from dydx_router.api.fields import SubaccountNumber, Ticker
from dydx_router.api.orders import REPLAYED_HEADER
from dydx_router.api.schemas import ClosePositionBody, MarketOut, MarketsOut, OrderOut, PositionsOut
from dydx_router.domain.order import OrderStatus

router = APIRouter(prefix="/v1", tags=["positions"])


@router.get("/positions", response_model=PositionsOut, summary="Open positions and collateral")
async def positions(
    caller: ReadCaller,
    service: Orders,
    subaccount: Annotated[SubaccountNumber | None, Query()] = None,
) -> PositionsOut:
    sub = service.config.default_subaccount if subaccount is None else subaccount
    return PositionsOut.of(await service.account(sub, caller), sub)


@router.post(
    "/positions/{market}/close",
    response_model=OrderOut,
    status_code=201,
    responses={
        200: {
            "description": "Idempotent replay (header `Idempotent-Replayed: true`): the close "
            "placed earlier with this key"
        },
        202: {"description": "Persisted, but the broadcast outcome is unknown (UNKNOWN)"},
        409: {
            "description": "The first close with this Idempotency-Key is still in flight "
            "(`idempotency_in_flight`, Retry-After), or trading is halted"
        },
        422: {"description": "Idempotency-Key reused with other parameters, or a malformed one"},
    },
    summary="Close a position with a reduce-only IOC order",
)
async def close_position(
    market: Ticker,
    response: Response,
    caller: TradeCaller,
    service: Orders,
    body: ClosePositionBody | None = None,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=128, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> OrderOut:
    body = body or ClosePositionBody()
    result = await service.close_position(
        market,
        caller,
        subaccount_number=body.subaccount,
        size=body.size,
        max_slippage_bps=body.max_slippage_bps,
        idempotency_key=idempotency_key,
        client_order_id=body.client_order_id,
        reason=body.reason,
    )
    status_code = 201
    if result.replayed:
        status_code = 200
        response.headers[REPLAYED_HEADER] = "true"
    elif result.order.status is OrderStatus.UNKNOWN:
        status_code = 202
    response.status_code = status_code
    return OrderOut.of(result.order)


@router.get("/markets", response_model=MarketsOut, tags=["markets"], summary="Market specs")
async def markets(caller: ReadCaller, service: Orders) -> MarketsOut:
    return MarketsOut(markets=[MarketOut.of(m) for m in service.markets()])
