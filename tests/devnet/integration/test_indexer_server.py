"""The indexer's servers on their own (no engine): bus in, HTTP out, over real sockets."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from tests.devnet.unit.indexer_events import ALICE, block, chain, order, placed

from dydx_devnet.events import EventBus
from dydx_devnet.indexer import Indexer
from dydx_devnet.model import Side

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _until(predicate: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_an_event_the_indexer_cannot_apply_makes_it_fail_loudly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bus = EventBus()
    indexer = Indexer(chain(), bus)
    await indexer.start("127.0.0.1", 0, 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{indexer.rest_port}") as http:
            bus.publish(block(1))
            await _until(lambda: indexer.projection.height == 1)
            assert (await http.get("/v4/height")).json()["height"] == "1"
            # An order on a clob pair the indexer does not know (a bug upstream of it).
            bus.publish(placed(order(ALICE, 1, Side.BUY, 1_000_000, 10**9, gtb=5, clob=99), 1))
            await _until(lambda: indexer.api.failure is not None)
            r = await http.get("/v4/height")
            assert r.status_code == 500
            assert "could not apply" in r.json()["errors"][0]["msg"]
    finally:
        await indexer.stop()
    assert "KeyError" in capsys.readouterr().err


async def test_the_rest_api_answers_every_origin() -> None:
    # comlink uses express `cors()`: every origin, preflights answered
    bus = EventBus()
    indexer = Indexer(chain(), bus)
    await indexer.start("127.0.0.1", 0, 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{indexer.rest_port}") as http:
            origin = {"Origin": "http://app.example"}
            r = await http.get("/v4/height", headers=origin)
            assert r.headers["access-control-allow-origin"] == "*"
            pre = await http.options(
                "/v4/orders",
                headers={**origin, "Access-Control-Request-Method": "GET",
                         "Access-Control-Request-Headers": "content-type"},
            )  # fmt: skip
            assert pre.status_code in (200, 204)
            assert pre.headers["access-control-allow-origin"] == "*"
            assert "GET" in pre.headers["access-control-allow-methods"]
    finally:
        await indexer.stop()
