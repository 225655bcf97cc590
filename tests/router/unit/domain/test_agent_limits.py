"""Per-key agent limits, the pure rules (domain/agent_limits.py): each refusal and its code."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dydx_router.domain.agent_limits import (
    AgentLimits,
    AgentUsage,
    check_agent_order,
    order_notional,
)
from dydx_router.domain.errors import AgentLimitBreached

D = Decimal


def check(limits: AgentLimits, *, notional: str = "100", market: str = "BTC-USD",
          reduce_only: bool = False, usage: AgentUsage | None = None) -> None:  # fmt: skip
    check_agent_order(
        market=market, notional=D(notional), reduce_only=reduce_only, limits=limits,
        usage=usage or AgentUsage(),
    )  # fmt: skip


def code_of(limits: AgentLimits, **kw: object) -> str:
    with pytest.raises(AgentLimitBreached) as info:
        check(limits, **kw)  # type: ignore[arg-type]
    return info.value.code


def test_no_limits_refuse_nothing() -> None:
    assert AgentLimits().empty and not AgentLimits().needs_usage
    check(AgentLimits(), notional="1e12")


def test_allowed_markets_refuse_other_markets_even_reduce_only() -> None:
    limits = AgentLimits(allowed_markets=frozenset({"ETH-USD"}))
    assert code_of(limits) == "agent_market_not_allowed"
    assert code_of(limits, reduce_only=True) == "agent_market_not_allowed"
    check(limits, market="ETH-USD")
    assert code_of(AgentLimits(allowed_markets=frozenset())) == "agent_market_not_allowed"


def test_order_notional_uses_the_larger_of_price_and_oracle() -> None:
    assert order_notional(D("0.1"), D("40000"), D("50000")) == D("5000.0")
    assert order_notional(D("0.1"), D("60000"), D("50000")) == D("6000.0")
    assert order_notional(D("0.1"), D("60000"), None) == D("6000.0")
    limits = AgentLimits(max_order_notional=D("5000"))
    check(limits, notional="5000")
    assert code_of(limits, notional="5000.01") == "agent_max_order_notional"


def test_the_daily_notional_counts_this_order_and_says_what_is_left() -> None:
    limits = AgentLimits(max_daily_notional=D("1000"))
    used = AgentUsage(daily_notional=D("900"))
    check(limits, notional="100", usage=used)
    with pytest.raises(AgentLimitBreached) as info:
        check(limits, notional="100.5", usage=used)
    assert info.value.code == "agent_max_daily_notional"
    assert info.value.details["remaining"] == "100" and info.value.details["used"] == "900"


def test_open_orders_count_this_one() -> None:
    limits = AgentLimits(max_open_orders=2)
    check(limits, usage=AgentUsage(open_orders=1))
    assert code_of(limits, usage=AgentUsage(open_orders=2)) == "agent_max_open_orders"
    assert code_of(AgentLimits(max_open_orders=0)) == "agent_max_open_orders"


def test_reduce_only_orders_are_never_refused_by_notional_or_open_orders() -> None:
    limits = AgentLimits(max_order_notional=D("1"), max_daily_notional=D("1"), max_open_orders=0)
    check(limits, notional="1000", reduce_only=True, usage=AgentUsage(D("5"), 3))
