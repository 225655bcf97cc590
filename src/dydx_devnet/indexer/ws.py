"""The indexer's websocket (socks): `ws://host:port/v4/ws` (any path is accepted, as socks does).

Protocol (`indexer/services/socks/src/websocket/index.ts`, `lib/subscription.ts`,
`helpers/message.ts`, `types.ts`):

- on connect the server sends `connected` {connection_id, message_id: 0};
- client -> server `{type: subscribe|unsubscribe|ping, channel, id?, batched?}`;
- `subscribed` {channel, id, contents} carries the channel's current state (the REST answer);
  `unsubscribed` {channel, id}; `error` {message};
- updates are `channel_data` {channel, id, version, contents}, or `channel_batch_data`
  {contents: [...]} for subscriptions made with `batched: true`;
- every message carries the connection's increasing `message_id`.

Channels served: v4_subaccounts (id `address/number`), v4_orderbook (id = ticker), v4_markets,
v4_block_height. v4_trades, v4_candles and v4_parent_subaccounts are valid channel names but
not served here: subscribing answers an `error`.

A JSON `{"type": "ping"}` is answered with `pong` {id?}. (Upstream socks on `main` ignores
JSON pings and relies on the websocket protocol's own ping/pong, which is answered here too.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from dydx_devnet.indexer import views
from dydx_devnet.indexer.fmt import iso
from dydx_devnet.indexer.params import MAX_SUBACCOUNT_NUMBER
from dydx_devnet.indexer.projection import Projection
from dydx_devnet.indexer.records import Status, WsMessage
from dydx_devnet.indexer.rest import IndexerFaults
from dydx_devnet.model import SubaccountId

# `kafka/src/constants.ts`
VERSIONS = {
    "v4_subaccounts": "3.0.0",
    "v4_orderbook": "1.0.0",
    "v4_markets": "1.0.0",
    "v4_block_height": "1.0.0",
}
ALL_CHANNELS = (
    "v4_orderbook", "v4_subaccounts", "v4_trades", "v4_markets", "v4_candles",
    "v4_parent_subaccounts", "v4_block_height",
)  # fmt: skip
# Channels without an id use a fixed one (`lib/constants.ts`, V4_MARKETS_ID / V4_BLOCK_HEIGHT_ID).
_DEFAULT_IDS = {"v4_markets": "v4_markets", "v4_block_height": "v4_block_height"}
# The initial v4_subaccounts contents: open orders, plus orders best-effort cancelled in the
# last 20 blocks (`getInitialResponseForSubaccountSubscription`).
_INITIAL_STATUSES = {Status.OPEN, Status.UNTRIGGERED, Status.BEST_EFFORT_OPENED}
_RECENT_CANCEL_BLOCKS = 20


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()  # compact, as socks' JSON.stringify


@dataclass(eq=False)
class Connection:
    ws: ServerConnection
    id: str
    message_id: int = 0
    # (channel, id) -> batched
    subscriptions: dict[tuple[str, str], bool] = field(default_factory=dict)
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)

    def send(self, body: dict[str, Any]) -> None:
        """Queue a message; `message_id` is assigned here so it is increasing on the wire."""
        self.message_id += 1
        self.outbox.put_nowait(_dumps(self._stamp(body)))

    def _stamp(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": body.pop("type"),
            "connection_id": self.id,
            "message_id": self.message_id,
            **body,
        }


class SocksServer:
    def __init__(self, projection: Projection, faults: IndexerFaults | None = None) -> None:
        self.projection = projection
        self.faults = faults
        self._subscribers: dict[tuple[str, str], set[Connection]] = {}
        self._connections: set[Connection] = set()
        self._server: Server | None = None

    # ---- server lifecycle ------------------------------------------------------------------
    async def start(self, host: str, port: int) -> int:
        # No permessage-deflate: socks' `ws` server is created without it, and `ws` servers
        # default to off (indexer/services/socks/src/helpers/wss.ts).
        self._server = await serve(
            self._handle, host, port, process_request=self._process_request, compression=None
        )
        bound: int = next(iter(self._server.sockets)).getsockname()[1]
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.faults is not None and self.faults.indexer_unavailable:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Service Unavailable\n")
        return None

    # ---- one connection --------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection(ws, str(uuid.uuid4()))
        self._connections.add(conn)
        writer = asyncio.create_task(self._write(conn))
        # `createConnectedMessage`: message_id 0.
        conn.outbox.put_nowait(
            _dumps({"type": "connected", "connection_id": conn.id, "message_id": 0})
        )
        try:
            async for raw in ws:
                if self.faults is not None and self.faults.indexer_latency_s > 0:
                    await asyncio.sleep(self.faults.indexer_latency_s)
                self._on_message(conn, raw)
        except ConnectionClosed:
            pass
        finally:
            self._drop(conn)
            conn.outbox.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await writer

    async def _write(self, conn: Connection) -> None:
        while (text := await conn.outbox.get()) is not None:
            try:
                await conn.ws.send(text)
            except ConnectionClosed:
                return

    def _drop(self, conn: Connection) -> None:
        self._connections.discard(conn)
        for key in conn.subscriptions:
            subs = self._subscribers.get(key)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self._subscribers[key]
        conn.subscriptions.clear()

    def _error(self, conn: Connection, message: str, **extra: Any) -> None:
        conn.send({"type": "error", "message": message, **extra})

    def _on_message(self, conn: Connection, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            self._error(conn, "Invalid message: could not parse")
            return
        if not isinstance(msg, dict) or not msg.get("type"):
            self._error(conn, "Invalid message: type is required")
            return
        kind = msg["type"]
        if kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if msg.get("id"):
                pong["id"] = msg["id"]
            conn.send(pong)
            return
        if kind not in ("subscribe", "unsubscribe"):
            self._error(conn, f"Invalid message type: {kind}")
            return
        channel, raw_id = msg.get("channel"), msg.get("id")
        if not channel:
            self._error(conn, "Invalid subscribe message: channel is required")
            return
        if channel not in ALL_CHANNELS:
            self._error(conn, f"Invalid channel: {channel}")
            return
        if channel not in _DEFAULT_IDS and not isinstance(raw_id, str):
            self._error(conn, f"Invalid id: {raw_id}")
            return
        sub_id: str = _DEFAULT_IDS.get(channel) or str(raw_id)
        key = (str(channel), sub_id)
        if kind == "unsubscribe":
            conn.subscriptions.pop(key, None)
            subs = self._subscribers.get(key)
            if subs is not None:
                subs.discard(conn)
            body: dict[str, Any] = {"type": "unsubscribed", "channel": channel}
            if channel != "v4_markets" and raw_id is not None:
                body["id"] = raw_id
            conn.send(body)
            return
        self._subscribe(conn, channel, key, msg.get("batched") is True)

    def _subscribe(
        self, conn: Connection, channel: str, key: tuple[str, str], batched: bool
    ) -> None:
        sub_id = key[1]
        if not self._valid_id(channel, sub_id):
            self._error(conn, f"Invalid subscription id for channel: ({channel}-{sub_id})")
            return
        if key in conn.subscriptions:
            self._error(
                conn,
                f"Invalid subscribe message: already subscribed ({channel}-{sub_id})",
                channel=channel,
                id=sub_id,
            )
            return
        contents = self._initial_contents(channel, sub_id)
        # The fault switch indexer_ws_subscribe_error (dydx_devnet.faults): as if comlink had
        # failed the initial fetch.
        refuse = getattr(self.faults, "take_ws_subscribe_error", None)
        if channel == "v4_subaccounts" and refuse is not None and refuse():
            contents = None
        if contents is None:
            self._error(
                conn,
                f"Internal error, could not fetch data for subscription: {channel}.",
                channel=channel,
                id=sub_id,
            )
            return
        # Snapshot and registration happen in one synchronous step: no update can fall
        # between them (the projection only changes between event-loop turns).
        conn.subscriptions[key] = batched
        self._subscribers.setdefault(key, set()).add(conn)
        body: dict[str, Any] = {"type": "subscribed", "channel": channel}
        if channel != "v4_markets":
            body["id"] = sub_id
        body["contents"] = contents
        conn.send(body)

    def _valid_id(self, channel: str, sub_id: str) -> bool:
        """`validateSubscription` (`lib/subscription.ts`)."""
        if channel in _DEFAULT_IDS:
            return True
        if channel == "v4_subaccounts":
            parts = sub_id.split("/")
            if len(parts) != 2 or not parts[1].isdigit():
                return False
            return int(parts[1]) <= MAX_SUBACCOUNT_NUMBER
        if channel == "v4_orderbook":
            return sub_id in self.projection.by_ticker
        return True

    def _initial_contents(self, channel: str, sub_id: str) -> dict[str, Any] | None:
        p = self.projection
        if channel == "v4_block_height":
            if p.height is None or p.block_time is None:
                return None
            return {"height": str(p.height), "time": iso(p.block_time)}
        if channel == "v4_markets":
            return {
                "markets": {
                    row.market.ticker: views.market_response(p, row)
                    for _, row in sorted(p.markets.items())
                }
            }
        if channel == "v4_orderbook":
            from dydx_devnet.indexer.params import API_ORDERBOOK_LEVELS_PER_SIDE_LIMIT

            return views.orderbook_response(
                p.by_ticker[sub_id], API_ORDERBOOK_LEVELS_PER_SIDE_LIMIT
            )
        if channel == "v4_subaccounts":
            return self._initial_subaccount(sub_id)
        return None

    def _initial_subaccount(self, sub_id: str) -> dict[str, Any]:
        address, number = sub_id.split("/")
        p = self.projection
        sid = SubaccountId(address, int(number))
        row = p.subaccounts.get(sid)
        if row is None:
            # The REST call 404s; socks then sends empty contents (the subaccount may appear
            # later, and its updates will still arrive on this subscription).
            return {}
        height = p.height or 0
        orders = []
        for uid in row.order_uuids:
            body = views.order_response(p, p.rows.get(uid), p.cache.get(uid))
            status = body["status"]
            recent_cancel = (
                status == Status.BEST_EFFORT_CANCELED
                and "goodTilBlock" in body
                and int(body["goodTilBlock"]) > max(height - _RECENT_CANCEL_BLOCKS, 1)
            )
            if status in _INITIAL_STATUSES or recent_cancel:
                orders.append(body)
        return {
            "subaccount": views.subaccount_response(p, row),
            "orders": orders,
            "blockHeight": str(height),
        }

    # ---- fan-out ---------------------------------------------------------------------------
    def has_subscribers(self, channel: str, channel_id: str) -> bool:
        return bool(self._subscribers.get((channel, channel_id)))

    def publish(self, messages: Iterable[WsMessage]) -> None:
        """Send each message to its subscribers; batched subscriptions get one
        `channel_batch_data` per call with the contents in order."""
        batches: dict[tuple[Connection, tuple[str, str]], list[dict[str, Any]]] = {}
        for m in messages:
            key = (m.channel, m.id if m.id is not None else _DEFAULT_IDS[m.channel])
            for conn in self._subscribers.get(key, ()):
                if conn.subscriptions.get(key):
                    batches.setdefault((conn, key), []).append(m.contents)
                else:
                    conn.send(self._data(m.channel, key[1], m.contents, "channel_data"))
        for (conn, key), contents in batches.items():
            conn.send(self._data(key[0], key[1], contents, "channel_batch_data"))

    @staticmethod
    def _data(channel: str, sub_id: str, contents: Any, kind: str) -> dict[str, Any]:
        # `createChannelDataMessage`: the markets channel carries no id.
        body: dict[str, Any] = {"type": kind}
        if channel != "v4_markets":
            body["id"] = sub_id
        body.update(channel=channel, version=VERSIONS[channel], contents=contents)
        return body
