"""The router against a devnet of three validators, configured with every validator's address
(``DYDX_ROUTER_NODE_ENDPOINTS``): placements, fills and cancels, a validator that is down, and a
broadcast whose reply is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess, start_devnet, stop_devnet
from tests.fixtures.router import RouterProcess, start_router, stop_router

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def validators_devnet() -> Iterator[DevnetProcess]:
    d = start_devnet(
        "router-validators",
        ["--validators", "3", "--block-time", "0.2", "--gossip-delay", "0.2", "--seed", "2"],
    )
    try:
        yield d
    finally:
        stop_devnet(d.process)


@pytest.fixture(scope="module")
def router3(validators_devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    d = validators_devnet
    assert len(d.grpcs) == 3
    with fresh_database(pg_server_url, "e2e_validators") as url:
        r = start_router(
            d, url, "validators", extra_env={"DYDX_ROUTER_NODE_ENDPOINTS": d.node_endpoints}
        )
        try:
            yield r
        finally:
            stop_router(r)


def wait_for(
    fetch: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = fetch()
    while not done(last):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out; last seen: {last}")
        time.sleep(0.2)
        last = fetch()
    return last


def order_of(c: httpx.Client, order_id: str) -> dict[str, Any]:
    resp = c.get(f"/v1/orders/{order_id}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def oracle(c: httpx.Client, market: str) -> Decimal:
    markets = c.get("/v1/markets").json()["markets"]
    return Decimal(next(m for m in markets if m["market"] == market)["oracle_price"])


def position(c: httpx.Client, market: str) -> Decimal:
    for p in c.get("/v1/positions").json()["positions"]:
        if p["market"] == market:
            size = Decimal(p["size"])
            return size if p["side"] == "LONG" else -size
    return Decimal(0)


def market_buy(c: httpx.Client, market: str, size: str) -> dict[str, Any]:
    resp = c.post(
        "/v1/orders", json={"market": market, "side": "BUY", "type": "MARKET", "size": size}
    )
    assert resp.status_code in (201, 202), resp.text
    placed: dict[str, Any] = resp.json()
    return placed


def test_market_order_fills_and_limits_cancel(router3: RouterProcess) -> None:
    with router3.client() as c:
        before = position(c, "BTC-USD")
        order = market_buy(c, "BTC-USD", "0.002")
        filled = wait_for(lambda: order_of(c, order["id"]), lambda o: o["status"] == "FILLED")
        assert Decimal(filled["filled_size"]) == Decimal("0.002")
        assert position(c, "BTC-USD") - before == Decimal("0.002")
        for body in (
            {"good_til_blocks": 20},  # short-term: each validator's memclob
            {"good_til_seconds": 600},  # stateful: committed
        ):
            far = (oracle(c, "ETH-USD") / 2).quantize(Decimal("0.1"))
            resp = c.post(
                "/v1/orders",
                json={
                    "market": "ETH-USD", "side": "BUY", "type": "LIMIT", "size": "0.01",
                    "price": str(far), **body,
                },
            )  # fmt: skip
            assert resp.status_code == 201, resp.text
            placed = resp.json()
            wait_for(lambda p=placed: order_of(c, p["id"]), lambda o: o["status"] == "OPEN")
            cancel = c.delete(f"/v1/orders/{placed['id']}")
            assert cancel.status_code == 200, cancel.text
            wait_for(lambda p=placed: order_of(c, p["id"]), lambda o: o["status"] == "CANCELED")


def test_a_validator_down_the_others_take_the_orders(
    router3: RouterProcess, validators_devnet: DevnetProcess
) -> None:
    d = validators_devnet
    asyncio.run(d.set_validator_faults(0, grpc_unavailable=True))
    try:
        with router3.client() as c:
            before = position(c, "SOL-USD")
            order = market_buy(c, "SOL-USD", "1")
            wait_for(lambda: order_of(c, order["id"]), lambda o: o["status"] == "FILLED")
            assert position(c, "SOL-USD") - before == Decimal("1")
    finally:
        asyncio.run(d.reset_faults())
    accepted = asyncio.run(d.accepted_orders(router3.address))
    assert accepted[-1]["validator"] in (1, 2)


def test_a_lost_broadcast_reply_places_the_order_once(
    router3: RouterProcess, validators_devnet: DevnetProcess
) -> None:
    d = validators_devnet
    # whichever validator the router calls first keeps the tx and answers UNAVAILABLE
    asyncio.run(d.set_faults(broadcast_reply_lost={"times": 1}))
    try:
        with router3.client() as c:
            before = position(c, "AVAX-USD")
            order = market_buy(c, "AVAX-USD", "1")
            done = wait_for(
                lambda: order_of(c, order["id"]),
                lambda o: o["status"] in ("FILLED", "REJECTED", "EXPIRED", "CANCELED"),
                timeout=60,
            )
            moved = position(c, "AVAX-USD") - before
            assert moved == Decimal("1"), (done, moved)  # on chain once, never twice
            assert done["status"] == "FILLED", done
        lost = [
            asyncio.run(d._call("GET", "/devnet/faults", params={"validator": i})) for i in range(3)
        ]
        # the switch fired (counted down to off) on the validator(s) the router called
        assert any(f["broadcast_reply_lost"] is None for f in lost)
    finally:
        asyncio.run(d.reset_faults())
