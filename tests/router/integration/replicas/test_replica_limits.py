"""Three router processes on one database: a risk limit holds across them, and a replica that
is told to stop (SIGTERM) hands its workers' lease over at once (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess, create_key, start_router, stop_router
from tests.router.integration.reliability.truth import far_limit
from tests.router.integration.replicas.test_three_replicas import ENV, _client, _lease_holder

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

# A long TTL: a lease that moves within seconds of a SIGTERM was handed over, not expired.
LEASE_TTL_S = 30.0


@pytest.fixture(scope="module")
def three(replicas_devnet: DevnetProcess, pg_server_url: str) -> Iterator[list[RouterProcess]]:
    env = {**ENV, "DYDX_ROUTER_WORKER_LEASE_TTL_S": str(LEASE_TTL_S)}
    with fresh_database(pg_server_url, "replica_limits") as url:
        first = start_router(replicas_devnet, url, "lim-1", env)
        with ThreadPoolExecutor(2) as pool:
            rest = list(
                pool.map(
                    lambda n: start_router(replicas_devnet, url, f"lim-{n}", env, same_as=first),
                    (2, 3),
                )
            )
        routers = [first, *rest]
        try:
            yield routers
        finally:
            for r in routers:
                if r.process.poll() is None:
                    stop_router(r)


def test_an_open_orders_limit_holds_across_replicas(three: list[RouterProcess]) -> None:
    asyncio.run(_limit_holds(three))


async def _limit_holds(routers: list[RouterProcess]) -> None:
    k, n = 4, 12
    _, admin = await create_key(routers[0].database_url, {"read", "trade", "admin"}, name="ops")
    async with _client(routers[0], admin) as ops:
        resp = await ops.put("/v1/admin/risk-limits/markets/BTC-USD", json={"max_open_orders": k})
        assert resp.status_code == 200, resp.text
    clients = [_client(r) for r in routers]
    btc = next(
        m
        for m in (await clients[0].get("/v1/markets")).json()["markets"]
        if m["market"] == "BTC-USD"
    )
    # Every replica reads its exposure snapshot (no order of this market yet) and has the limit:
    # from here each alone would accept k.
    for c in clients:
        deadline = time.monotonic() + 5
        while (await c.get("/v1/admin/risk-limits")).status_code != 200 or (
            (await c.get("/v1/admin/risk-limits")).json()["markets"].get("BTC-USD") is None
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)

    async def place(i: int) -> httpx.Response:
        # Long-term orders far from the book: each rests, none becomes final during the test.
        body = far_limit(btc, good_til_seconds=600)
        headers = {"Idempotency-Key": f"lim-{uuid.uuid4()}"}
        return await clients[i % len(clients)].post("/v1/orders", json=body, headers=headers)

    answers = await asyncio.gather(*(place(i) for i in range(n)))
    outcome = Counter(
        a.status_code if a.status_code < 300 else a.json()["error"]["code"] for a in answers
    )
    # Exactly k placed, whichever replica took them; every other one refused with the limit's
    # stable code (400 risk_max_open_orders), none stored.
    assert outcome == {201: k, "risk_max_open_orders": n - k}, (outcome, [a.text for a in answers])
    for c in clients:
        await c.aclose()


def test_an_agent_limit_holds_across_replicas(three: list[RouterProcess]) -> None:
    asyncio.run(_agent_limit_holds(three))


async def _agent_limit_holds(routers: list[RouterProcess]) -> None:
    # Stateful orders again: with the first test's 12 they stay within the chain's 20 stateful
    # placements per 100 blocks of one address (protocol/x/clob/rate_limit/), which an order
    # refused at its insert has already used.
    k, n = 2, 6
    url = routers[0].database_url
    _, admin = await create_key(url, {"read", "trade", "admin"}, name="ops2")
    agent_key, agent = await create_key(url, {"read", "trade"}, name="agent")
    async with _client(routers[0], admin) as ops:
        resp = await ops.put(
            f"/v1/admin/api-keys/{agent_key.id}/limits", json={"max_open_orders": k}
        )
        assert resp.status_code == 200, resp.text
    await asyncio.sleep(1.2)  # every replica has the key's limits (NOTIFY, the poll a backstop)
    clients = [_client(r, agent) for r in routers]
    eth = next(
        m
        for m in (await clients[0].get("/v1/markets")).json()["markets"]
        if m["market"] == "ETH-USD"
    )

    async def place(i: int) -> httpx.Response:
        body = far_limit(eth, good_til_seconds=600)
        headers = {"Idempotency-Key": f"agent-{uuid.uuid4()}"}
        return await clients[i % len(clients)].post("/v1/orders", json=body, headers=headers)

    answers = await asyncio.gather(*(place(i) for i in range(n)))
    outcome = Counter(
        a.status_code if a.status_code < 300 else a.json()["error"]["code"] for a in answers
    )
    assert outcome == {201: k, "agent_max_open_orders": n - k}, outcome
    for c in clients:
        await c.aclose()


def test_sigterm_hands_the_workers_lease_over_at_once(three: list[RouterProcess]) -> None:
    asyncio.run(_hand_over(three))


async def _hand_over(routers: list[RouterProcess]) -> None:
    url = routers[0].database_url
    holder, token = await _lease_holder(url)
    assert holder is not None
    victim = next(r for r in routers if str(r.process.pid) in holder)
    os.kill(victim.process.pid, signal.SIGTERM)
    sent = time.monotonic()
    while (await _lease_holder(url))[0] in (None, holder):
        # Well under the TTL: by expiry it would take LEASE_TTL_S.
        assert time.monotonic() - sent < 5, f"the lease stayed with {holder}"
        await asyncio.sleep(0.01)
    gap = time.monotonic() - sent
    new_holder, new_token = await _lease_holder(url)
    assert new_token > token and new_holder != holder
    victim.process.wait(timeout=20)  # it drains and exits (uvicorn re-raises the SIGTERM)
    print(f"lease handed over {gap:.3f} s after SIGTERM (TTL {LEASE_TTL_S} s)")
