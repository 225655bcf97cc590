"""Three router processes on one database and the devnet (docs/scaling.md).

Load goes round-robin over the replicas, the same Idempotency-Keys concurrently to different
replicas included; every replica places stateful orders at once; one replica is SIGKILLed mid-load.
Then: every acknowledged order exists once in the store and once on the chain (the devnet's
accepted orders), ends with its true status (as the indexer reports it), none failed for a
sequence reason; the workers' lease moved to a live replica; a key's rate limit held across
replicas; a kill switch set on one replica stopped the others within a second.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import httpx
import pytest

from dydx_router.store.database import asyncpg_dsn
from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess, create_key, start_router, stop_router
from tests.router.integration.reliability.truth import far_limit, indexer_order

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ENV = {
    "DYDX_ROUTER_WORKER_LEASE_TTL_S": "1.5",
    # The admin class is the one whose limit the test exhausts (6 requests, no refill to speak of).
    "DYDX_ROUTER_RATE_LIMIT_ADMIN_PER_S": "0.01",
    "DYDX_ROUTER_RATE_LIMIT_ADMIN_BURST": "6",
    "DYDX_ROUTER_CHAIN_RATE_LIMIT_MAX_WAIT_S": "10",
    # A standby's status stream never runs: /ready must not count it as down past this.
    "DYDX_ROUTER_READY_MAX_BLOCK_AGE_S": "5",
    # 0.2 s blocks on two loaded cores: a replica's view of the height trails the chain's by a
    # few blocks, which the window must cover (on mainnet's ~1 s blocks the default 1 does).
    "DYDX_ROUTER_CHAIN_RATE_LIMIT_SLACK_BLOCKS": "5",
}
SEQUENCE_WORDS = ("sequence", "nonce")


def _client(r: RouterProcess, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key or r.api_key}"}
    return httpx.AsyncClient(base_url=r.url, headers=headers, timeout=30)


async def _lease_holder(database_url: str) -> tuple[str | None, int]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await conn.fetchrow(
            "SELECT holder, token FROM leases WHERE name LIKE 'workers:%' "
            "AND expires_at >= clock_timestamp()"
        )
    finally:
        await conn.close()
    return (row["holder"], int(row["token"])) if row else (None, 0)


async def _stored(database_url: str) -> list[Any]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return list(
            await conn.fetch(
                "SELECT id, idempotency_key, client_id, order_flags, status, indexer_order_id "
                "FROM orders"
            )
        )
    finally:
        await conn.close()


@pytest.mark.parametrize("mode", ["timestamp_nonce", "account_sequence"])
def test_three_replicas_share_one_database(
    replicas_devnet: DevnetProcess, pg_server_url: str, mode: str
) -> None:
    env = {**ENV, "DYDX_ROUTER_SEQUENCE_MODE": mode}
    with fresh_database(pg_server_url, "replicas") as url:
        first = start_router(replicas_devnet, url, "rep-1", env)
        with ThreadPoolExecutor(2) as pool:
            rest = list(
                pool.map(
                    lambda n: start_router(replicas_devnet, url, f"rep-{n}", env, same_as=first),
                    (2, 3),
                )
            )
        routers = [first, *rest]
        try:
            asyncio.run(_run(routers, replicas_devnet, url))
        finally:
            for r in routers:
                if r.process.poll() is None:
                    stop_router(r)


async def _run(routers: list[RouterProcess], devnet: DevnetProcess, url: str) -> None:
    clients = [_client(r) for r in routers]
    markets = (await clients[0].get("/v1/markets")).json()["markets"]
    btc = next(m for m in markets if m["market"] == "BTC-USD")
    holder_before, token_before = await _lease_holder(url)
    assert holder_before is not None

    acked: dict[str, str] = {}  # Idempotency-Key -> order id
    accepted: set[str] = set()  # keys some replica answered SUBMITTED or later: CheckTx took it
    refused: list[tuple[int, dict[str, Any]]] = []

    async def place(i: int, key: str, body: dict[str, Any]) -> None:
        c = clients[i % len(clients)]
        try:
            resp = await c.post("/v1/orders", json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            return  # the replica was killed under this request: not acknowledged
        if resp.status_code in (200, 201, 202):
            got = resp.json()["id"]
            assert acked.setdefault(key, got) == got, "one Idempotency-Key, two orders"
            assert resp.json()["status"] != "REJECTED", resp.text
            if resp.json()["status"] not in ("PENDING", "UNKNOWN"):
                accepted.add(key)
        else:
            refused.append((resp.status_code, resp.json()))

    # The replica holding the workers' lease is the one killed (its lease must move).
    victim = next(r for r in routers if str(r.process.pid) in holder_before)
    live = [c for r, c in zip(routers, clients, strict=True) if r is not victim]

    async def load() -> None:
        jobs = []
        for n in range(12):
            # short-term orders, each key sent to two replicas at once
            key = f"st-{uuid.uuid4()}"
            body = far_limit(btc, good_til_blocks=30)
            jobs += [place(n, key, body), place(n + 1, key, body)]
        for n in range(6):
            # stateful (long-term) orders from every replica at once
            jobs.append(place(n, f"lt-{uuid.uuid4()}", far_limit(btc, good_til_seconds=600)))
        await asyncio.gather(*jobs)

    moved_after: list[float] = []

    async def kill_mid_load() -> None:
        await asyncio.sleep(0.3)
        os.kill(victim.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        while (await _lease_holder(url))[0] in (None, holder_before):
            assert time.monotonic() - killed_at < 10, f"the lease stayed with {holder_before}"
            await asyncio.sleep(0.05)
        moved_after.append(time.monotonic() - killed_at)

    await asyncio.gather(load(), kill_mid_load(), load())
    victim.process.wait(timeout=5)
    # The lease moved to a live replica within 5 s of the kill (TTL 1.5 s here), fenced by a
    # new token.
    assert moved_after[0] < 5, moved_after
    assert (await _lease_holder(url))[1] > token_before
    print(f"lease moved {moved_after[0]:.2f} s after SIGKILL")

    assert not [r for r in refused if any(w in str(r[1]) for w in SEQUENCE_WORDS)], refused
    assert acked, refused

    # Every acknowledged order settles to its true status, as a live replica reports it.
    stored = await _settle(live[0], acked, url, devnet)
    by_key = Counter(r["idempotency_key"] for r in stored)
    assert all(by_key[k] == 1 for k in acked), "an acknowledged order stored twice"
    chain = Counter(
        (o["clientId"], o["orderFlags"]) for o in await devnet.accepted_orders(routers[0].address)
    )
    for row in stored:
        if row["idempotency_key"] not in acked:
            continue
        on_chain = chain[(int(row["client_id"]), int(row["order_flags"]))]
        if row["idempotency_key"] in accepted:
            assert on_chain == 1, (row["status"], on_chain)
        else:
            # Answered PENDING (the same key replayed while the other replica, killed since,
            # was placing it) or UNKNOWN: on the chain at most once; if never, it says so.
            assert on_chain <= 1, (row["status"], on_chain)
            assert on_chain == 1 or row["status"] in ("EXPIRED", "CANCELED"), row["status"]

    # Standby replicas are ready too (their status stream is another replica's job), even
    # after longer than the readiness limit of a down stream.
    for c in live:
        resp = await c.get("/ready")
        assert resp.status_code == 200, resp.text
    await _rate_limit_held(clients)
    await _kill_switch_reaches_every_replica(routers, live, url)
    for c in clients:
        await c.aclose()


async def _settle(
    c: httpx.AsyncClient, acked: dict[str, str], url: str, devnet: DevnetProcess
) -> list[Any]:
    deadline = time.monotonic() + 25
    while True:
        rows = await _stored(url)
        mine = {r["idempotency_key"]: r for r in rows if r["idempotency_key"] in acked}
        waiting = [r for r in mine.values() if r["status"] in ("PENDING", "UNKNOWN", "SUBMITTED")]
        if not waiting and len(mine) == len(acked):
            break
        assert time.monotonic() < deadline, [(r["status"]) for r in waiting]
        await asyncio.sleep(0.3)
    for r in mine.values():
        path = f"/v1/orders/{acked[r['idempotency_key']]}"
        venue = await indexer_order(devnet, str(r["indexer_order_id"]))
        seen = None if venue is None else venue["status"]
        if seen in ("OPEN", "BEST_EFFORT_OPENED"):
            # Resting: OPEN here too (or, for a short-term one, EXPIRED since the look-up).
            allowed = {"OPEN"} if r["order_flags"] else {"OPEN", "EXPIRED"}
        else:
            # A short-term order past its good-til-block: gone from the indexer; the router
            # reports it EXPIRED as soon as its own view of the height passes it.
            assert seen in (None, "CANCELED") and not r["order_flags"], (r["status"], seen)
            allowed = {"EXPIRED"}
        deadline = time.monotonic() + 10
        while (got := (await c.get(path)).json()["status"]) not in allowed:
            assert time.monotonic() < deadline, (got, seen)
            await asyncio.sleep(0.2)
    return rows


async def _rate_limit_held(clients: list[httpx.AsyncClient]) -> None:
    """The admin class allows 6 requests per key, whichever replica they reach."""
    live = clients[:]
    codes = []
    for i in range(9):
        try:
            codes.append((await live[i % len(live)].get("/v1/admin/trading-state")).status_code)
        except httpx.TransportError:
            live.pop(i % len(live))
    assert codes.count(200) == 6 and codes[6:] == [429] * (len(codes) - 6), codes


async def _kill_switch_reaches_every_replica(
    routers: list[RouterProcess], live: list[httpx.AsyncClient], url: str
) -> None:
    _, admin = await create_key(url, {"read", "trade", "admin"}, name="ops")
    alive = [r for r in routers if r.process.poll() is None]
    async with _client(alive[0], admin) as ops:
        resp = await ops.post(
            "/v1/admin/trading-state", json={"state": "HALTED", "reason": "replica test"}
        )
        assert resp.status_code == 200, resp.text
    halted_at = time.monotonic()
    async with _client(alive[1], admin) as other:
        while True:
            state = (await other.get("/v1/admin/trading-state")).json()["state"]
            if state == "HALTED":
                break
            assert time.monotonic() - halted_at < 1.0, "the kill switch took over 1 s"
            await asyncio.sleep(0.02)
