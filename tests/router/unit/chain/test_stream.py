"""IndexerStream against a small local websocket server speaking the socks protocol
(indexer/services/socks/src/types.ts; comlink public/websocket-documentation.md)."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from dydx_router.chain.errors import IndexerBadRequest
from dydx_router.chain.indexer_models import IndexerOrderStatus
from dydx_router.chain.stream import (
    BlockHeight,
    IndexerStream,
    StreamConnected,
    StreamDisconnected,
    StreamEvent,
    SubaccountSnapshot,
    SubaccountUpdate,
)
from dydx_router.domain.ids import order_uuid, subaccount_uuid

ADDRESS = "dydx199tqg4wdlnu4qjlxchpd7seg454937hjrknju4"
CHANNEL_ID = f"{ADDRESS}/0"
NOW = "2026-11-24T05:00:00.000Z"
ORDER_ID = str(order_uuid(ADDRESS, 0, 7, 0, 0))


def _snapshot(height: int) -> dict[str, Any]:
    # The "Initial Response" example of websocket-documentation.md, plus one open order.
    return {
        "subaccount": {
            "address": ADDRESS,
            "subaccountNumber": 0,
            "equity": "100000000000.000000",
            "freeCollateral": "100000000000.000000",
            "openPerpetualPositions": {},
            "assetPositions": {
                "USDC": {"symbol": "USDC", "side": "LONG", "size": "100000000000", "assetId": "0"}
            },
            "marginEnabled": True,
        },
        "orders": [
            {
                "id": ORDER_ID,
                "subaccountId": str(subaccount_uuid(ADDRESS, 0)),
                "clientId": "7",
                "clobPairId": "0",
                "side": "BUY",
                "size": "0.001",
                "totalFilled": "0",
                "price": "60000",
                "type": "LIMIT",
                "reduceOnly": False,
                "orderFlags": "0",
                "goodTilBlock": str(height + 20),
                "clientMetadata": "0",
                "timeInForce": "GTT",
                "status": "BEST_EFFORT_OPENED",
                "postOnly": False,
                "ticker": "BTC-USD",
                "subaccountNumber": 0,
            }
        ],
        "blockHeight": str(height),
    }


class FakeSocks:
    """Socks' message flow: connected, subscribed (snapshot), channel_data, numbered messages."""

    def __init__(self) -> None:
        self.height = 100
        self.subscriptions: list[tuple[str, str | None]] = []
        self.unsubscriptions: list[tuple[str, str | None]] = []
        self.connections: list[ServerConnection] = []
        self.refuse_subaccount = False
        self.skip_message_id = False
        self.extra_open_orders = 0
        # Subscription ids the indexer does not know yet: socks answers `{}` (the REST 404).
        self.unknown: set[str] = set()
        self._message_id: dict[int, int] = {}

    async def send(self, ws: ServerConnection, message: dict[str, Any]) -> None:
        n = self._message_id.get(id(ws), 0)
        if self.skip_message_id and n > 2:
            n += 1  # lose a message: the client must notice the gap
            self.skip_message_id = False
        self._message_id[id(ws)] = n + 1
        await ws.send(
            json.dumps(
                {**message, "connection_id": f"conn-{len(self.connections)}", "message_id": n}
            )
        )

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        await self.send(ws, {"type": "connected"})
        async for raw in ws:
            msg = json.loads(raw)
            channel, ident = msg.get("channel"), msg.get("id")
            if msg["type"] == "unsubscribe":
                self.unsubscriptions.append((channel, ident))
                await self.send(ws, {"type": "unsubscribed", "channel": channel, "id": ident})
                continue
            self.subscriptions.append((channel, ident))
            if channel == "v4_block_height":
                contents = {"height": str(self.height), "time": NOW}
                await self.send(
                    ws,
                    {
                        "type": "subscribed",
                        "channel": channel,
                        "id": "v4_block_height",
                        "contents": contents,
                    },
                )
            elif self.refuse_subaccount:
                await self.send(
                    ws,
                    {
                        "type": "error",
                        "message": "Invalid subscription id",
                        "channel": channel,
                        "id": ident,
                    },
                )
            else:
                await self.send(
                    ws,
                    {
                        "type": "subscribed",
                        "channel": channel,
                        "id": ident,
                        "contents": {} if ident in self.unknown else self._snapshot(),
                    },
                )

    def _snapshot(self) -> dict[str, Any]:
        snapshot = _snapshot(self.height)
        (order,) = snapshot["orders"]
        for n in range(self.extra_open_orders):
            client_id = 1000 + n
            other = str(order_uuid(ADDRESS, 0, client_id, 0, 0))
            snapshot["orders"].append(order | {"id": other, "clientId": str(client_id)})
        return snapshot

    async def push_height(self) -> None:
        self.height += 1
        for ws in self.connections:
            await self.send(
                ws,
                {
                    "type": "channel_data",
                    "channel": "v4_block_height",
                    "id": "v4_block_height",
                    "version": "1.0.0",
                    "contents": {"blockHeight": str(self.height), "time": NOW},
                },
            )

    async def push_order_update(self, status: str) -> None:
        update = {
            "orders": [
                {
                    "id": ORDER_ID,
                    "subaccountId": str(subaccount_uuid(ADDRESS, 0)),
                    "clientId": "7",
                    "clobPairId": "0",
                    "status": status,
                    "orderFlags": "0",
                    "totalFilled": "0",
                    "removalReason": "USER_CANCELED",
                    "ticker": "BTC-USD",
                }
            ],
            "blockHeight": str(self.height),
        }
        for ws in self.connections:
            await self.send(
                ws,
                {
                    "type": "channel_data",
                    "channel": "v4_subaccounts",
                    "id": CHANNEL_ID,
                    "version": "3.0.0",
                    "contents": update,
                },
            )


@asynccontextmanager
async def socks() -> AsyncIterator[tuple[FakeSocks, str]]:
    fake = FakeSocks()
    async with serve(fake.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield fake, f"ws://127.0.0.1:{port}/v4/ws"


async def _next(events: AsyncIterator[StreamEvent], kind: type, within: float = 3.0) -> Any:
    async with asyncio.timeout(within):
        async for event in events:
            if isinstance(event, kind):
                return event
    raise AssertionError("stream ended")


def _stream(urls: list[str], **kwargs: Any) -> IndexerStream:
    return IndexerStream(urls, subaccounts=[(ADDRESS, 0)], backoff_initial=0.05, **kwargs)


async def test_snapshot_then_typed_updates() -> None:
    async with socks() as (fake, url):
        stream = _stream([url])
        events = stream.events()
        assert (await _next(events, StreamConnected)).connection_id == "conn-1"
        height = await _next(events, BlockHeight)
        assert (height.height, height.snapshot) == (100, True)
        snap = await _next(events, SubaccountSnapshot)
        assert (snap.address, snap.subaccount_number) == (ADDRESS, 0)
        assert snap.contents.subaccount.equity == Decimal("100000000000")
        assert snap.contents.orders[0].status is IndexerOrderStatus.BEST_EFFORT_OPENED
        assert snap.contents.block_height == 100

        await fake.push_height()
        update = await _next(events, BlockHeight)
        assert (update.height, update.snapshot) == (101, False)
        await fake.push_order_update("BEST_EFFORT_CANCELED")
        sub = await _next(events, SubaccountUpdate)
        (order,) = sub.contents.orders
        assert str(order.id) == ORDER_ID
        assert order.status is IndexerOrderStatus.BEST_EFFORT_CANCELED
        assert order.removal_reason == "USER_CANCELED"
        assert sub.version == "3.0.0"
        await stream.close()
        await events.aclose()


async def test_reconnects_and_resyncs_with_a_fresh_snapshot() -> None:
    async with socks() as (fake, url):
        stream = _stream([url])
        events = stream.events()
        await _next(events, SubaccountSnapshot)
        fake.height = 150
        await fake.connections[0].close(code=1012, reason="service restart")
        gone = await _next(events, StreamDisconnected)
        assert "1012" in gone.reason
        assert (await _next(events, StreamConnected)).connection_id == "conn-2"
        snap = await _next(events, SubaccountSnapshot)
        assert snap.contents.block_height == 150  # the state after the gap, not a replay
        assert fake.subscriptions.count(("v4_subaccounts", CHANNEL_ID)) == 2
        await stream.close()
        await events.aclose()


async def test_idle_watchdog_reconnects_a_silent_connection() -> None:
    async with socks() as (fake, url):
        stream = _stream([url], idle_timeout=0.3)
        events = stream.events()
        await _next(events, SubaccountSnapshot)
        gone = await _next(events, StreamDisconnected)  # nothing arrives: no blocks, no data
        assert "no message for 0.3 s" in gone.reason
        await _next(events, SubaccountSnapshot)
        assert len(fake.connections) == 2
        await stream.close()
        await events.aclose()


async def test_message_gap_triggers_a_resubscribe() -> None:
    async with socks() as (fake, url):
        stream = _stream([url])
        events = stream.events()
        await _next(events, SubaccountSnapshot)
        fake.skip_message_id = True
        await fake.push_height()
        snap = await _next(events, SubaccountSnapshot)  # resynced on the same connection
        assert snap.contents.block_height == 101
        assert fake.unsubscriptions == [("v4_subaccounts", CHANNEL_ID)]
        assert len(fake.connections) == 1
        await stream.close()
        await events.aclose()


async def test_fails_over_to_the_next_url() -> None:
    async with socks() as (_, dead_url):
        pass  # the server is gone: its port now refuses connections
    async with socks() as (_fake, url):
        stream = _stream([dead_url, url])
        events = stream.events()
        gone = await _next(events, StreamDisconnected)
        assert gone.url == dead_url
        connected = await _next(events, StreamConnected)
        assert connected.url == url
        await stream.close()
        await events.aclose()


async def test_refused_subscription_is_an_error_for_the_caller() -> None:
    async with socks() as (fake, url):
        fake.refuse_subaccount = True
        stream = _stream([url])
        with pytest.raises(IndexerBadRequest, match="Invalid subscription id"):
            async for _ in stream.events():
                pass
        await stream.close()


async def test_close_ends_the_iteration() -> None:
    async with socks() as (_fake, url):
        stream = _stream([url])
        seen: list[StreamEvent] = []

        async def consume() -> None:
            async for event in stream.events():
                seen.append(event)
                if isinstance(event, SubaccountSnapshot):
                    await stream.close()

        await asyncio.wait_for(consume(), 3)
        assert isinstance(seen[-1], SubaccountSnapshot)


async def test_a_snapshot_of_thousands_of_open_orders_is_read() -> None:
    """~2.6 MB: over the websockets default message limit (1 MiB), which refused it and made
    every reconnect fail the same way."""
    async with socks() as (fake, url):
        fake.extra_open_orders = 5000
        stream = _stream([url])
        events = stream.events()
        snap = await _next(events, SubaccountSnapshot, within=10)
        assert len(snap.contents.orders) == 5001
        await stream.close()
        await events.aclose()


async def test_subaccounts_followed_and_unfollowed_on_the_live_connection() -> None:
    """Issue 13, item 7: a subaccount followed while connected is subscribed at once (once),
    one not indexed yet (socks' `{}` snapshot) is followed without a reconnection, and every
    followed one is subscribed again after a reconnection."""
    other = f"{ADDRESS}/1"
    async with socks() as (fake, url):
        fake.unknown.add(other)
        stream = _stream([url])
        events = stream.events()
        await _next(events, SubaccountSnapshot)
        assert stream.follow(ADDRESS, 1) is True
        assert stream.follow(ADDRESS, 1) is False
        empty = await _next(events, SubaccountSnapshot)
        assert (empty.subaccount_number, empty.contents.subaccount) == (1, None)
        assert fake.subscriptions.count(("v4_subaccounts", other)) == 1
        await fake.connections[0].close(code=1012, reason="service restart")
        await _next(events, StreamDisconnected)
        await _next(events, SubaccountSnapshot)
        await _next(events, SubaccountSnapshot)
        assert fake.subscriptions.count(("v4_subaccounts", other)) == 2
        assert len(fake.connections) == 2
        stream.unfollow(ADDRESS, 1)
        for _ in range(300):  # sent in the background
            if fake.unsubscriptions:
                break
            await asyncio.sleep(0.01)
        assert fake.unsubscriptions == [("v4_subaccounts", other)]
        assert stream.following == [(ADDRESS, 0)]
        await stream.close()
        await events.aclose()
