"""The outbound limiter against a devnet whose block rate limit is small (10 short-term orders and
cancels per 5 blocks): twice the allowance and more earns no clob/5001; the excess either waits
for room or is answered 429 ``chain_rate_limited`` with nothing persisted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from dydx_router.store.database import asyncpg_dsn
from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess, start_devnet, stop_devnet
from tests.fixtures.router import RouterProcess, start_router, stop_router

pytestmark = pytest.mark.e2e
LIMIT, BLOCKS = 10, 5
ORDER = {"market": "BTC-USD", "side": "BUY", "type": "MARKET", "size": "0.001"}


@pytest.fixture(scope="module")
def tight_devnet() -> Iterator[DevnetProcess]:
    d = start_devnet(
        "ratelimit", ["--block-time", "0.2", "--seed", "3", "--short-term-limit", "10"]
    )
    try:
        yield d
    finally:
        stop_devnet(d.process)


def router_with(
    devnet: DevnetProcess, pg_server_url: str, name: str, max_wait: str
) -> Iterator[RouterProcess]:
    with fresh_database(pg_server_url, name) as url:
        r = start_router(devnet, url, name, {"DYDX_ROUTER_CHAIN_RATE_LIMIT_MAX_WAIT_S": max_wait})
        try:
            yield r
        finally:
            stop_router(r)


@pytest.fixture(scope="module")
def refusing(tight_devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    yield from router_with(tight_devnet, pg_server_url, "rate-refuse", "0")


@pytest.fixture(scope="module")
def queueing(tight_devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    yield from router_with(tight_devnet, pg_server_url, "rate-queue", "5")


async def burst(r: RouterProcess, n: int) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {r.api_key}"}
    async with httpx.AsyncClient(base_url=r.url, headers=headers, timeout=30) as c:
        return await asyncio.gather(*(c.post("/v1/orders", json=ORDER) for _ in range(n)))


async def stored(r: RouterProcess) -> list[Any]:
    conn = await asyncpg.connect(asyncpg_dsn(r.database_url))
    try:
        rows: list[Any] = await conn.fetch("SELECT status, error_codespace, error_code FROM orders")
        return rows
    finally:
        await conn.close()


def test_over_the_allowance_answers_429_and_never_earns_5001(refusing: RouterProcess) -> None:
    responses = asyncio.run(burst(refusing, 3 * LIMIT))
    codes = [r.status_code for r in responses]
    refused = [r for r in responses if r.status_code == 429]
    assert set(codes) <= {201, 429}, [r.text for r in responses if r.status_code not in (201, 429)]
    assert LIMIT // 2 <= codes.count(201) <= LIMIT  # the allowance is used, never exceeded
    assert refused and all(r.json()["error"]["code"] == "chain_rate_limited" for r in refused)
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    rows = asyncio.run(stored(refusing))
    assert len(rows) == codes.count(201)  # a refused request left nothing behind
    assert not [r for r in rows if r["error_code"] == 5001]
    assert {r["status"] for r in rows} <= {"SUBMITTED", "FILLED", "CANCELED", "EXPIRED", "OPEN"}


def test_with_a_wait_the_excess_queues_for_the_next_blocks(queueing: RouterProcess) -> None:
    responses = asyncio.run(burst(queueing, 2 * LIMIT))
    assert [r.status_code for r in responses] == [201] * (2 * LIMIT), [
        r.text for r in responses if r.status_code != 201
    ]
    heights = sorted(r.json()["chain"]["good_til_block"] for r in responses)
    assert heights[-1] > heights[0]  # the second half went out in later blocks
    rows = asyncio.run(stored(queueing))
    assert len(rows) == 2 * LIMIT and not [r for r in rows if r["error_code"] == 5001]
