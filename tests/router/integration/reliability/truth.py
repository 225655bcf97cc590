"""Helpers of the truth tests: read an order as the router stores it and as the indexer shows it,
wait for a status, and write the state a lost reply leaves behind."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Any

import httpx

from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess
from tests.router.integration.reliability.harness import db


def client(router: RouterProcess) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {router.api_key}"}
    return httpx.AsyncClient(base_url=router.url, headers=headers, timeout=30)


async def order(c: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    resp = await c.get(f"/v1/orders/{order_id}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def history(body: dict[str, Any]) -> list[str]:
    return [h["to_status"] for h in body["status_history"]]


async def until(
    c: httpx.AsyncClient, order_id: str, statuses: set[str], within: float
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        body = await order(c, order_id)
        if body["status"] in statuses:
            return body
        assert time.monotonic() < deadline, (
            f"still {body['status']} (history {history(body)}), expected {statuses}"
        )
        await asyncio.sleep(0.2)


async def indexer_order(devnet: DevnetProcess, indexer_order_id: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(base_url=devnet.indexer, timeout=10) as c:
        resp = await c.get(f"/v4/orders/{indexer_order_id}")
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


async def blocks_past(devnet: DevnetProcess, height: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while (await devnet.status())["height"] <= height:
        assert time.monotonic() < deadline, f"the devnet did not pass height {height}"
        await asyncio.sleep(0.1)


async def lose_the_reply(database_url: str, order_id: str) -> None:
    """What the router stores when a broadcast's reply is lost: UNKNOWN (the chain got it)."""
    async with db(database_url) as conn:
        done = await conn.fetchval(
            "WITH u AS (UPDATE orders SET status = 'UNKNOWN' WHERE id = $1 AND status <> 'UNKNOWN'"
            " RETURNING id, status) INSERT INTO order_status_history (order_id, from_status, "
            "to_status, reason) SELECT id, 'SUBMITTED', 'UNKNOWN', 'broadcast outcome unknown: "
            "reply lost (test)' FROM u RETURNING order_id",
            uuid.UUID(order_id),
        )
    assert done is not None


async def stored_status(database_url: str, order_id: str) -> str:
    async with db(database_url) as conn:
        status: str = await conn.fetchval(
            "SELECT status FROM orders WHERE id = $1", uuid.UUID(order_id)
        )
    return status


def far_limit(spec: dict[str, Any], side: str = "BUY", **extra: Any) -> dict[str, Any]:
    """A limit order half (or 1.5x) the oracle price away: it rests and never fills."""
    tick = Decimal(spec["tick_size"])
    factor = Decimal("0.5") if side == "BUY" else Decimal("1.5")
    price = (Decimal(spec["oracle_price"]) * factor / tick).to_integral_value(ROUND_DOWN) * tick
    return {
        "market": spec["market"],
        "side": side,
        "type": "LIMIT",
        "size": str(spec["min_order_size"]),
        "price": str(price),
        **extra,
    }


def market(spec: dict[str, Any], side: str = "BUY") -> dict[str, Any]:
    return {
        "market": spec["market"],
        "side": side,
        "type": "MARKET",
        "size": str(spec["min_order_size"]),
    }
