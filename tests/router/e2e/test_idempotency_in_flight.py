"""Idempotency-Key while the first request is still in flight, over real HTTP: the router on
PostgreSQL and the devnet, whose gRPC answers are slowed (the devnet's ``grpc_latency_s`` fault
switch) so that the first placement is still broadcasting when its retries arrive.

draft-ietf-httpapi-idempotency-key-header §2.7: a request whose key's first request is still being
processed is answered 409 (here ``idempotency_in_flight`` with Retry-After), never by waiting and
never by a second order; once the first has its outcome, the same request is a replay (200)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from dydx_router.store.database import asyncpg_dsn
from tests.fixtures.router import RouterProcess

pytestmark = pytest.mark.e2e

# Far below the oracle price: the order rests, nothing fills.
BODY = {
    "market": "BTC-USD",
    "side": "BUY",
    "type": "LIMIT",
    "size": "0.001",
    "price": "1",
    "good_til_blocks": 20,
}
# Long enough that the first broadcast is still waiting on the node while the retries are
# answered, even on a busy machine (below every node timeout, 5 s).
LATENCY_S = 1.5


async def rows_with_key(database_url: str, key: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await conn.fetch(
            "SELECT id, status, client_id FROM orders WHERE idempotency_key = $1", key
        )
    finally:
        await conn.close()


async def in_flight_scenario(router: RouterProcess) -> dict[str, Any]:
    key = f"in-flight-{uuid.uuid4()}"
    headers = {"Authorization": f"Bearer {router.api_key}", "Idempotency-Key": key}
    async with httpx.AsyncClient(base_url=router.url, headers=headers, timeout=30) as c:
        # Warm the router's chain state (account number, heights) before the node slows.
        warm = await c.post("/v1/orders", json=BODY, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert warm.status_code == 201, warm.text
        await router.devnet.set_faults(grpc_latency_s=LATENCY_S)
        try:
            first = asyncio.create_task(c.post("/v1/orders", json=BODY))
            # The first request's row is committed PENDING before its broadcast (write-ahead).
            deadline = time.monotonic() + 10
            rows: list[asyncpg.Record] = []
            while not rows and time.monotonic() < deadline:
                rows = await rows_with_key(router.database_url, key)
                await asyncio.sleep(0.02)
            assert rows and rows[0]["status"] == "PENDING", rows
            retries = await asyncio.gather(*(c.post("/v1/orders", json=BODY) for _ in range(4)))
            still_in_flight = not first.done()
            placed = await first
        finally:
            await router.devnet.reset_faults()
        replay = await c.post("/v1/orders", json=BODY)
    return {
        "key": key,
        "row_id": str(rows[0]["id"]),
        "retries": retries,
        "still_in_flight": still_in_flight,
        "placed": placed,
        "replay": replay,
        "rows": await rows_with_key(router.database_url, key),
    }


def test_retry_while_in_flight_is_409_then_a_replay(router: RouterProcess) -> None:
    seen = asyncio.run(in_flight_scenario(router))
    assert seen["still_in_flight"], "the first placement finished before its retries: too fast"
    for retry in seen["retries"]:
        assert retry.status_code == 409, retry.text
        assert retry.headers["content-type"].startswith("application/problem+json")
        assert retry.headers["retry-after"] == "1"
        assert "idempotent-replayed" not in retry.headers
        error = retry.json()["error"]
        assert error["code"] == "idempotency_in_flight"
        assert error["details"]["order_id"] == seen["row_id"]

    placed = seen["placed"]
    assert placed.status_code == 201, placed.text
    assert placed.json()["id"] == seen["row_id"]
    replay = seen["replay"]
    assert replay.status_code == 200, replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == seen["row_id"]

    # One order, stored once and sent once.
    (row,) = seen["rows"]
    assert row["status"] != "PENDING"
    accepted = asyncio.run(router.devnet.accepted_orders(router.address))
    assert sum(o["clientId"] == row["client_id"] for o in accepted) == 1
