"""``dydx-router api-keys limits KEY_ID``: show or set a key's agent limits from the host.

Written in one transaction with its audit entry (actor ``cli``); the write notifies every running
router, which enforces the new limits at once (service/agent_limits.py).
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from dydx_router.cli.common import _fail, config_errors
from dydx_router.domain.agent_limits import AGENT_LIMIT_NAMES, AgentLimits

_TICKER = re.compile(r"[A-Z0-9]{1,20}-[A-Z]{2,10}")  # as api/schemas.py Ticker


def _decimal(text: str | None, option: str) -> Decimal | None:
    if text is None or text == "none":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(0)
    if not value.is_finite() or value <= 0:
        _fail(f"{option} must be a positive decimal (or 'none')")
    return value


def _show(key_id: uuid.UUID, limits: AgentLimits) -> None:
    markets = limits.allowed_markets
    typer.echo(f"api key:            {key_id}")
    typer.echo(f"max_order_notional: {limits.max_order_notional or 'none'}")
    typer.echo(f"max_daily_notional: {limits.max_daily_notional or 'none'}")
    none = "none" if limits.max_open_orders is None else limits.max_open_orders
    typer.echo(f"max_open_orders:    {none}")
    typer.echo(f"allowed_markets:    {'any' if markets is None else ','.join(sorted(markets))}")


@config_errors
def limits(
    key_id: Annotated[str, typer.Argument(help="The key's id (api-keys list).")],
    max_order_notional: Annotated[
        str | None, typer.Option(help="USD per order, or 'none'.")
    ] = None,
    max_daily_notional: Annotated[
        str | None, typer.Option(help="USD per UTC day, or 'none'.")
    ] = None,
    max_open_orders: Annotated[
        str | None, typer.Option(help="Non-final orders of the key, or 'none'.")
    ] = None,
    allowed_markets: Annotated[
        str | None, typer.Option(help="Comma-separated tickers, or 'any'.")
    ] = None,
    clear: Annotated[bool, typer.Option(help="Remove every agent limit of the key.")] = False,
) -> None:
    """Show a key's agent limits, or change the ones given (the others are kept)."""
    from dydx_router.cli import _keys_call
    from dydx_router.domain.access import Actor
    from dydx_router.domain.errors import ApiKeyNotFound, DomainError
    from dydx_router.service.admin import agent_details

    try:
        ident = uuid.UUID(key_id)
    except ValueError:
        _fail(f"not a key id: {key_id!r}")
    changes: dict[str, Any] = {}
    if max_order_notional is not None:
        changes["max_order_notional"] = _decimal(max_order_notional, "--max-order-notional")
    if max_daily_notional is not None:
        changes["max_daily_notional"] = _decimal(max_daily_notional, "--max-daily-notional")
    if max_open_orders is not None:
        if max_open_orders != "none" and not max_open_orders.isdigit():
            _fail("--max-open-orders must be a whole number (or 'none')")
        changes["max_open_orders"] = None if max_open_orders == "none" else int(max_open_orders)
    if allowed_markets is not None:
        tickers = [t.strip() for t in allowed_markets.split(",") if t.strip()]
        if tickers != ["any"] and not all(_TICKER.fullmatch(t) for t in tickers):
            _fail("--allowed-markets must be tickers like BTC-USD,ETH-USD (or 'any')")
        changes["allowed_markets"] = None if tickers == ["any"] else frozenset(tickers)

    async def apply(uow: Any) -> AgentLimits:
        key = next((k for k in await uow.api_keys.list_all() if k.id == ident), None)
        if key is None:
            raise ApiKeyNotFound(f"api key {ident} not found")
        current: AgentLimits = await uow.agent_limits.get(ident)
        if clear:
            if await uow.agent_limits.delete(ident):
                await uow.audit.record(Actor.cli(), "agent_limits_deleted", str(ident))
            return AgentLimits()
        if not changes:
            return current
        new = AgentLimits(
            **{name: changes.get(name, getattr(current, name)) for name in AGENT_LIMIT_NAMES}
        )
        await uow.agent_limits.put(ident, new, None)
        await uow.audit.record(
            Actor.cli(), "agent_limits_set", str(ident), name=key.name, **agent_details(new)
        )
        return new

    try:
        result = _keys_call(apply)
    except DomainError as exc:
        _fail(str(exc))
    _show(ident, result)
