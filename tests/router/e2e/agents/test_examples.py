"""The examples run end to end against the router on the devnet."""

from __future__ import annotations

from decimal import Decimal

import jsonschema
import pytest
from examples import tool_loop, trading_agent

from dydx_router_client.models import OrderStatus
from tests.fixtures.router import RouterProcess
from tests.router.e2e.agents.mcp_session import open_session

pytestmark = pytest.mark.e2e
SIZE = Decimal("1")


async def test_the_typed_client_agent_opens_and_closes_a_position(router: RouterProcess) -> None:
    # A market no other test of the session trades: the agent closes the market's whole
    # position, which must be only what it opened.
    report = await trading_agent.run(
        router.url, router.api_key, market="AVAX-USD", size=SIZE, samples=3, interval_s=0.3
    )
    assert report.refusals == [] and len(report.prices) == 3
    assert report.opened is not None and report.opened.status is OrderStatus.FILLED
    assert report.opened.side.value == report.side
    assert report.closed is not None and report.closed.status is OrderStatus.FILLED
    assert report.closed.reduce_only and report.closed.side.value != report.side
    assert report.closed.filled_size == report.opened.filled_size == SIZE


async def test_the_tool_loop_with_a_scripted_policy_places_an_order_that_fills(
    router: RouterProcess,
) -> None:
    policy = tool_loop.ScriptedPolicy(market="BTC-USD")
    async with open_session(router, "stdio") as session:
        tools = tool_loop.function_tools(await session.list_tools())
        transcript = await tool_loop.run_loop(session, policy)
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tools}
    for turn in transcript:  # what the policy sent is what the schemas a model gets allow
        jsonschema.validate(turn.call.arguments, schemas[turn.call.name])
    names = [t.call.name for t in transcript]
    assert names[:3] == ["list_markets", "preview_order", "place_order"], transcript[-1]
    assert all(t.ok for t in transcript), transcript[-1]
    assert transcript[-1].result["status"] == "FILLED"
