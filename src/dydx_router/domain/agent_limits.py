"""Per-key agent limits: what one API key (an automated agent) may do, on top of the router's risk
limits. Pure.

Semantics (docs/agents.md, "Agent limits"):

- Every limit is optional (``None``: no limit); a key without a row has none.
- ``allowed_markets``: the markets the key may place orders in. Applies to every order, reduce-only
  included: a market outside the list is outside the agent's remit (an operator closes it).
- ``max_order_notional`` (USD): size x the larger of the order's price and the oracle price, as
  the router's own ``max_order_notional`` (domain/risk.py), so a far-off limit price cannot
  understate it.
- ``max_daily_notional`` (USD): the notional of every order the key placed since 00:00 UTC (the
  same measure, at the stored price: a market order's worst price), this one included. Orders
  the chain rejected do not count.
- ``max_open_orders``: the key's non-final orders, in every market and subaccount, this one
  included.

Reduce-only orders can only shrink a position: the notional and open-order limits never refuse
them (an agent must always be able to get out), though they count in the day's notional.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

from dydx_router.domain.errors import AgentLimitBreached


@dataclass(frozen=True, slots=True)
class AgentLimits:
    max_order_notional: Decimal | None = None
    max_daily_notional: Decimal | None = None
    max_open_orders: int | None = None
    allowed_markets: frozenset[str] | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    @property
    def needs_usage(self) -> bool:
        """Whether the check needs the key's usage (the day's notional, its open orders)."""
        return self.max_daily_notional is not None or self.max_open_orders is not None


AGENT_LIMIT_NAMES = tuple(f.name for f in fields(AgentLimits))


@dataclass(frozen=True, slots=True)
class AgentUsage:
    """What the key has used: the notional placed since 00:00 UTC, its non-final orders."""

    daily_notional: Decimal = Decimal(0)
    open_orders: int = 0

    def plus(self, notional: Decimal, orders: int) -> AgentUsage:
        return AgentUsage(self.daily_notional + notional, self.open_orders + orders)


def order_notional(size: Decimal, price: Decimal, oracle: Decimal | None) -> Decimal:
    """USD notional of an order: size x max(price, oracle), as domain/risk.py measures it."""
    return size * (price if oracle is None else max(price, oracle))


def check_agent_order(
    *,
    market: str,
    notional: Decimal,
    reduce_only: bool,
    limits: AgentLimits,
    usage: AgentUsage | None,
) -> None:
    """Raise ``AgentLimitBreached`` for the first agent limit the order breaches.

    ``usage`` may be None only when ``limits.needs_usage`` is false or the order is reduce-only.
    """
    if limits.allowed_markets is not None and market not in limits.allowed_markets:
        raise AgentLimitBreached(
            f"this API key may not trade {market} (allowed: "
            f"{', '.join(sorted(limits.allowed_markets)) or 'none'})",
            code="agent_market_not_allowed",
            limit="allowed_markets",
            market=market,
            allowed_markets=sorted(limits.allowed_markets),
        )
    if reduce_only:
        return
    if limits.max_order_notional is not None and notional > limits.max_order_notional:
        raise AgentLimitBreached(
            f"order notional {notional:f} USD is more than this API key's max_order_notional "
            f"{limits.max_order_notional:f}",
            code="agent_max_order_notional",
            limit="max_order_notional",
            limit_value=str(limits.max_order_notional),
            requested=f"{notional:f}",
        )
    if not limits.needs_usage:
        return
    assert usage is not None, "usage is required by these limits"
    if limits.max_open_orders is not None and usage.open_orders + 1 > limits.max_open_orders:
        raise AgentLimitBreached(
            f"this API key already has {usage.open_orders} open orders (max_open_orders "
            f"{limits.max_open_orders})",
            code="agent_max_open_orders",
            limit="max_open_orders",
            limit_value=str(limits.max_open_orders),
            open_orders=usage.open_orders,
        )
    if limits.max_daily_notional is not None:
        after = usage.daily_notional + notional
        if after > limits.max_daily_notional:
            left = max(limits.max_daily_notional - usage.daily_notional, Decimal(0))
            raise AgentLimitBreached(
                f"this order's {notional:f} USD would bring today's notional to {after:f} USD, "
                f"over this API key's max_daily_notional {limits.max_daily_notional:f} "
                f"({left:f} USD left until 00:00 UTC)",
                code="agent_max_daily_notional",
                limit="max_daily_notional",
                limit_value=str(limits.max_daily_notional),
                used=f"{usage.daily_notional:f}",
                requested=f"{notional:f}",
                remaining=f"{left:f}",
            )
