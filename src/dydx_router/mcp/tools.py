"""The MCP tools and resources, written once over the typed client (``dydx_router_client``).

Over stdio the client talks to a router over HTTP; mounted on the router at ``/mcp`` it talks to
the router in-process (``mcp/http.py``). Either way every call goes through the router's own
routes, so authentication, key scopes, risk checks and the kill switch apply to the agent exactly
as to any other caller, and no tool reaches anything an API key could not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import structlog
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from pydantic import Field

from dydx_router.mcp.guard import (
    McpSettings,
    PreviewTokens,
    Refusal,
    one_line_reason,
    refuse_secrets,
)
from dydx_router.mcp.shapes import (
    PREVIEW,
    READ,
    TRADE,
    AgentAccount,
    Dec,
    Limits,
    Preview,
    Reason,
    Ticker,
    TradingStateView,
    body_of,
    place_params,
    refusal_of,
)
from dydx_router_client import AsyncRouterClient
from dydx_router_client.errors import NotFound, RouterError
from dydx_router_client.models import (
    CancelResult,
    MarketsOut,
    OrderOut,
    OrderPage,
    OrderStatus,
    OrderType,
    PositionsOut,
    Side,
    TimeInForce,
)

log = structlog.get_logger(__name__)
# What a tool call needs: a client authorised as the agent, and the agent's API key (previews
# are bound to it).
Connect = Callable[[Context], AbstractAsyncContextManager[tuple[AsyncRouterClient, str]]]


def build_server(connect: Connect, settings: McpSettings | None = None) -> MCPServer:
    settings = settings or McpSettings()
    tokens = PreviewTokens(settings)
    mcp = MCPServer(
        "dydx-router",
        instructions=(
            "Trade on dYdX v4 through an order router. Always preview_order first, then "
            "place_order or close_position with the returned preview_token and the exact same "
            "parameters, and a one-line reason. Decimals are strings. Never pass secrets."
        ),
    )

    async def call(ctx: Context, fn: Callable[[AsyncRouterClient], Any]) -> Any:
        async with connect(ctx) as (client, _):
            try:
                return await fn(client)
            except RouterError as e:
                raise refusal_of(e) from None

    @mcp.tool(annotations=READ, structured_output=True)
    async def list_markets(ctx: Context) -> MarketsOut:
        """Every market: tick size, step size, minimum order size, oracle price."""
        result: MarketsOut = await call(ctx, lambda c: c.markets())
        return result

    @mcp.tool(annotations=READ, structured_output=True)
    async def get_positions(ctx: Context, subaccount: int | None = None) -> PositionsOut:
        """Open positions, equity and free collateral of a subaccount."""
        result: PositionsOut = await call(ctx, lambda c: c.positions(subaccount))
        return result

    @mcp.tool(annotations=READ, structured_output=True)
    async def get_account(ctx: Context) -> AgentAccount:
        """Equity, free collateral, positions, the number of open orders and the key's limits."""
        async with connect(ctx) as (client, _):
            try:
                positions = await client.positions()
                page = await client.list_orders(status=OrderStatus.OPEN, limit=500)
                try:
                    account: dict[str, Any] | None = await client.account()
                except NotFound:
                    account = None
            except RouterError as e:
                raise refusal_of(e) from None
        return AgentAccount(
            positions=positions, open_orders=len(page.orders), router_account=account
        )

    @mcp.tool(annotations=READ, structured_output=True)
    async def list_orders(
        ctx: Context,
        market: Ticker | None = None,
        status: OrderStatus | None = None,
        side: Side | None = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        cursor: str | None = None,
    ) -> OrderPage:
        """Orders, newest first; pass next_cursor as cursor for the next page."""
        refuse_secrets({"cursor": cursor})
        result: OrderPage = await call(
            ctx,
            lambda c: c.list_orders(
                market=market, status=status, side=side, limit=limit, cursor=cursor
            ),
        )
        return result

    @mcp.tool(annotations=READ, structured_output=True)
    async def get_order(ctx: Context, order_id: UUID) -> OrderOut:
        """One order with its status history."""
        result: OrderOut = await call(ctx, lambda c: c.get_order(order_id))
        return result

    @mcp.tool(annotations=READ, structured_output=True)
    async def list_fills(
        ctx: Context,
        market: Ticker | None = None,
        order_id: UUID | None = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """Fills (price, size, fee, liquidity), newest first."""
        result: dict[str, Any] = await call(
            ctx, lambda c: c.fills(market=market, order_id=order_id, limit=limit)
        )
        return result

    @mcp.tool(annotations=READ, structured_output=True)
    async def get_trading_state(ctx: Context) -> TradingStateView:
        """The operator's kill switch: ACTIVE, REDUCE_ONLY or HALTED."""
        async with connect(ctx) as (client, _):
            try:
                try:
                    account = await client.account()
                    state = account.get("trading_state")
                    if isinstance(state, dict):
                        return TradingStateView(
                            state=str(state.get("state")),
                            reason=state.get("reason"),
                            source="account",
                        )
                    if isinstance(state, str):
                        return TradingStateView(state=state, reason=None, source="account")
                except NotFound:
                    pass
                record = await client.trading_state()
            except RouterError as e:
                raise refusal_of(e) from None
        return TradingStateView(state=record.state.value, reason=record.reason, source="admin")

    @mcp.tool(annotations=PREVIEW, structured_output=True)
    async def preview_order(
        ctx: Context,
        market: Ticker,
        intent: Literal["place", "close"] = "place",
        side: Side | None = None,
        type: OrderType = OrderType.MARKET,
        size: Dec | None = None,
        price: Dec | None = None,
        trigger_price: Dec | None = None,
        time_in_force: TimeInForce | None = None,
        good_til_seconds: int | None = None,
        reduce_only: bool = False,
        post_only: bool = False,
        max_slippage_bps: int | None = None,
        subaccount: int | None = None,
    ) -> Preview:
        """Check an order (intent=place) or a close (intent=close) without sending anything;
        returns the preview_token that place_order / close_position require."""
        refuse_secrets({"market": market})
        async with connect(ctx) as (client, api_key):
            try:
                if intent == "close":
                    positions = await client.positions(subaccount)
                    held = next((p for p in positions.positions if p.market == market), None)
                    if held is None:
                        raise refusal_of(
                            RouterError(f"no open position in {market}", code="no_position")
                        )
                    params = {
                        "market": market,
                        "size": size,
                        "max_slippage_bps": max_slippage_bps,
                        "subaccount": subaccount,
                    }
                    token, expires = tokens.issue("close", params, api_key)
                    entry = held.entry_price
                    return Preview(
                        preview_token=token, expires_at=datetime.fromtimestamp(expires, UTC),
                        intent="close", order=None, position_size=held.size,
                        notional=None if entry is None else (size or held.size) * entry,
                    )  # fmt: skip
                if side is None or size is None:
                    raise ToolError(
                        Refusal(
                            "invalid_request",
                            "side and size are required to preview a placement",
                            "give side (BUY or SELL) and size",
                        ).render()
                    )
                params = place_params(
                    market,
                    side,
                    type,
                    size,
                    price,
                    trigger_price,
                    time_in_force,
                    good_til_seconds,
                    reduce_only,
                    post_only,
                    max_slippage_bps,
                    subaccount,
                )
                dry = await client.preview_order(body_of(params))
            except RouterError as e:
                raise refusal_of(e) from None
        token, expires = tokens.issue("place", params, api_key)
        reference = price or dry.order.price
        return Preview(
            preview_token=token, expires_at=datetime.fromtimestamp(expires, UTC), intent="place",
            order=dry.order, position_size=None,
            notional=None if reference is None else dry.order.size * reference,
        )  # fmt: skip

    @mcp.tool(annotations=TRADE, structured_output=True)
    async def place_order(
        ctx: Context,
        market: Ticker,
        side: Side,
        size: Dec,
        preview_token: str,
        reason: Reason,
        type: OrderType = OrderType.MARKET,
        price: Dec | None = None,
        trigger_price: Dec | None = None,
        time_in_force: TimeInForce | None = None,
        good_til_seconds: int | None = None,
        reduce_only: bool = False,
        post_only: bool = False,
        max_slippage_bps: int | None = None,
        subaccount: int | None = None,
    ) -> OrderOut:
        """Place the order previewed with preview_order (same parameters, its preview_token)."""
        refuse_secrets({"market": market, "reason": reason, "preview_token": preview_token})
        why = one_line_reason(reason, settings.max_reason_chars)
        params = place_params(
            market,
            side,
            type,
            size,
            price,
            trigger_price,
            time_in_force,
            good_til_seconds,
            reduce_only,
            post_only,
            max_slippage_bps,
            subaccount,
        )
        async with connect(ctx) as (client, api_key):
            try:
                tokens.check(preview_token, "place", params, api_key)
            except Refusal as r:
                raise ToolError(r.render()) from None
            key = "mcp-" + hashlib.sha256(preview_token.encode()).hexdigest()[:40]
            try:
                body = body_of(params).model_copy(update={"reason": why})
                order = await client.place_order(body, idempotency_key=key)
            except RouterError as e:
                raise refusal_of(e) from None
        log.info(
            "mcp_order",
            order_id=str(order.id),
            action="place",
            reason=why,
            status=order.status.value,
        )
        return order

    @mcp.tool(annotations=TRADE, structured_output=True)
    async def close_position(
        ctx: Context,
        market: Ticker,
        preview_token: str,
        reason: Reason,
        size: Dec | None = None,
        max_slippage_bps: int | None = None,
        subaccount: int | None = None,
    ) -> OrderOut:
        """Close (all of, or `size` of) a position with a reduce-only IOC order, as previewed
        with preview_order(intent="close")."""
        refuse_secrets({"market": market, "reason": reason, "preview_token": preview_token})
        why = one_line_reason(reason, settings.max_reason_chars)
        params = {
            "market": market,
            "size": size,
            "max_slippage_bps": max_slippage_bps,
            "subaccount": subaccount,
        }
        async with connect(ctx) as (client, api_key):
            try:
                tokens.check(preview_token, "close", params, api_key)
            except Refusal as r:
                raise ToolError(r.render()) from None
            key = "mcp-" + hashlib.sha256(preview_token.encode()).hexdigest()[:40]
            try:
                order = await client.close_position(
                    market, size=size, max_slippage_bps=max_slippage_bps, subaccount=subaccount,
                    idempotency_key=key, reason=why,
                )  # fmt: skip
            except RouterError as e:
                raise refusal_of(e) from None
        log.info(
            "mcp_order",
            order_id=str(order.id),
            action="close",
            reason=why,
            status=order.status.value,
        )
        return order

    @mcp.tool(annotations=TRADE, structured_output=True)
    async def cancel_order(ctx: Context, order_id: UUID, reason: Reason) -> OrderOut:
        """Cancel one order."""
        refuse_secrets({"reason": reason})
        why = one_line_reason(reason, settings.max_reason_chars)
        order: OrderOut = await call(ctx, lambda c: c.cancel_order(order_id, reason=why))
        log.info("mcp_order", order_id=str(order.id), action="cancel", reason=why)
        return order

    @mcp.tool(annotations=TRADE, structured_output=True)
    async def cancel_all_orders(
        ctx: Context, reason: Reason, market: Ticker | None = None
    ) -> CancelResult:
        """Cancel every open order (of one market, if given)."""
        refuse_secrets({"reason": reason})
        why = one_line_reason(reason, settings.max_reason_chars)
        result: CancelResult = await call(
            ctx, lambda c: c.cancel_orders(market=market, all=market is None, reason=why)
        )
        log.info("mcp_cancel_all", market=market, reason=why, orders=len(result.orders))
        return result

    # Templates (a query variable each), since only a template's handler is given the request's
    # Context, which the HTTP transport needs for the caller's key.
    @mcp.resource("dydx-router://markets{?ticker}", mime_type="application/json")
    async def market_specs(ctx: Context, ticker: str = "") -> str:
        """Market specs (tick size, step size, minimum size, oracle price): all, or `ticker`."""
        result: MarketsOut = await call(ctx, lambda c: c.markets())
        if not ticker:
            return result.model_dump_json()
        for market in result.markets:
            if market.market == ticker:
                return market.model_dump_json()
        raise ResourceNotFoundError(f"no market {ticker}")

    @mcp.resource("dydx-router://limits{?subaccount}", mime_type="application/json")
    async def limits(ctx: Context, subaccount: str = "") -> str:
        """This agent's limits: the guard rails and the key's own limits."""
        async with connect(ctx) as (client, _):
            try:
                account: Any = await client.account()
            except RouterError:
                account = None
        key = (account.get("api_key") or {}) if isinstance(account, dict) else {}
        limits = None if not isinstance(account, dict) else {
            "risk_limits": account.get("risk_limits"), "agent_limits": key.get("agent_limits"),
            "agent_usage": key.get("agent_usage"),
        }  # fmt: skip
        return Limits(
            preview_ttl_s=settings.preview_ttl_s, max_reason_chars=settings.max_reason_chars,
            account_limits=limits,
        ).model_dump_json()  # fmt: skip

    return mcp
