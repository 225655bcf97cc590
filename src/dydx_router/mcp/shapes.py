"""What the MCP tools take and answer, their annotations, and refusals in plain words."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

from dydx_router.mcp.guard import Refusal
from dydx_router_client.errors import RouterError
from dydx_router_client.models import (
    OrderOut,
    OrderType,
    PlaceOrderBody,
    PositionsOut,
    Side,
    TimeInForce,
)

READ = ToolAnnotations(
    readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=True
)
# Orders change the account: destructive. A placement's Idempotency-Key is derived from its
# preview token, so calling again with the same token answers the same order: idempotent.
TRADE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=True
)
PREVIEW = ToolAnnotations(
    readOnlyHint=True, destructiveHint=False, idempotentHint=False, openWorldHint=True
)

# What to change, per stable code of the router, for a model to correct itself.
FIXES = {
    "trading_halted": "trading is halted by the operator: place nothing; see get_trading_state",
    "trading_reduce_only": "only orders that reduce a position are allowed now (reduce_only=true)",
    "risk_limit_breached": "make the order smaller or nearer the oracle price (limits resource)",
    "invalid_size_step": "round size to a multiple of the market's step_size (list_markets)",
    "size_below_minimum": "use at least the market's min_order_size (list_markets)",
    "invalid_price_tick": "round price to a multiple of the market's tick_size (list_markets)",
    "unknown_market": "use a market from list_markets",
    "no_position": "there is no position to close in this market (get_positions)",
    "rate_limited": "wait the given number of seconds before the next call",
    "price_stale": "the router's prices are stale: wait and preview again",
    "order_not_cancelable": "the order is final or its cancel is already in flight (get_order)",
    "insufficient_scope": "this API key may not do this; ask the operator for a key with the scope",
    # This agent's own limits (the limits resource; get_account's agent_limits and usage).
    "agent_market_not_allowed": "trade only the markets in the limits resource's allowed_markets",
    "agent_max_order_notional": "make the order smaller: its notional is over max_order_notional",
    "agent_max_daily_notional": "today's notional is nearly used: a smaller order (at most "
    "details.remaining USD), a reduce_only order, or wait for 00:00 UTC",
    "agent_max_open_orders": "cancel an open order (list_orders) or wait for one to fill or expire",
}


def refusal_of(error: RouterError) -> ToolError:
    fix = FIXES.get(error.code, "")
    if error.retry_after is not None:
        fix = (fix + "; " if fix else "") + f"retry after {error.retry_after:g} s"
    details = f" (details: {error.details})" if error.details else ""
    return ToolError(Refusal(error.code, error.message + details, fix).render())


class Preview(BaseModel):
    preview_token: str = Field(description="Pass to place_order / close_position unchanged.")
    expires_at: datetime
    intent: Literal["place", "close"]
    order: OrderOut | None = Field(
        description="The order as the router would place it (quantized), for intent=place."
    )
    notional: Decimal | None = Field(description="size x (price, or the oracle price), in USD")
    position_size: Decimal | None = Field(description="The position to close (intent=close)")


class AgentAccount(BaseModel):
    positions: PositionsOut
    open_orders: int
    router_account: dict[str, Any] | None = Field(
        description="GET /v1/account (equity, margin, the key's limits), when the router has it"
    )


class TradingStateView(BaseModel):
    state: str
    reason: str | None
    source: str


class Limits(BaseModel):
    preview_ttl_s: float
    max_reason_chars: int
    account_limits: Any = Field(
        description="As GET /v1/account has them: the router's risk_limits, this key's "
        "agent_limits and its agent_usage today"
    )


Ticker = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}-[A-Z]{2,10}$", description="e.g. BTC-USD")]
Reason = Annotated[str, Field(description="One line: why this action (stored and audited)")]
Dec = Annotated[Decimal, Field(description='A decimal string, e.g. "0.001"')]


def place_params(
    market: str, side: Side, type: OrderType, size: Decimal, price: Decimal | None,
    trigger_price: Decimal | None, time_in_force: TimeInForce | None,
    good_til_seconds: int | None, reduce_only: bool, post_only: bool,
    max_slippage_bps: int | None, subaccount: int | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "market": market, "side": side, "type": type, "size": size, "price": price,
        "trigger_price": trigger_price, "time_in_force": time_in_force,
        "good_til_seconds": good_til_seconds, "reduce_only": reduce_only,
        "post_only": post_only, "max_slippage_bps": max_slippage_bps, "subaccount": subaccount,
    }  # fmt: skip


def body_of(params: dict[str, Any]) -> PlaceOrderBody:
    return PlaceOrderBody.model_validate({k: v for k, v in params.items() if v is not None})
