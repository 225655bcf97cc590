"""Indexer websocket client (socks, ``/v4/ws``) for ``v4_subaccounts`` and ``v4_block_height``.

Websockets are fragile (nautechsystems/nautilus_trader PRs #1965, #1967), so this client:
* reconnects forever with capped exponential backoff, rotating through the given URLs;
* resubscribes after every reconnect, so each ``subscribed`` message is a fresh **snapshot**
  (:class:`SubaccountSnapshot`) that consumers treat as authoritative, replacing whatever they
  derived from updates before the gap;
* watches liveness twice: protocol pings (``ping_interval``/``ping_timeout``; socks also pings
  and closes silent peers, ``socks/src/websocket/index.ts``) and an idle watchdog that reconnects
  when no message at all arrived for ``idle_timeout`` seconds (block heights come every block);
* detects a gap in ``message_id`` (socks numbers every message of a connection) and resyncs by
  resubscribing the subaccount channels;
* follows a set of subaccounts that may change while connected (:meth:`IndexerStream.follow`,
  :meth:`IndexerStream.unfollow`): a new one is subscribed on the live connection at once, and
  every (re)connection subscribes the whole set.

Message shapes: ``indexer/services/socks/src/types.ts`` and comlink's
``public/websocket-documentation.md``; they are parsed into ``chain/indexer_models.py`` types.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import structlog
import websockets
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from dydx_router.chain.errors import IndexerBadRequest
from dydx_router.chain.indexer_models import (
    BlockHeightContents,
    SubaccountSnapshotContents,
    SubaccountUpdateContents,
)

log = structlog.get_logger(__name__)

SUBACCOUNTS = "v4_subaccounts"
BLOCK_HEIGHT = "v4_block_height"
# The subscription snapshot lists every open order of the subaccount in one message: ~0.5 KB
# each, so the websockets default (1 MiB) refused the snapshot of a market maker with ~2,000
# resting orders, and every reconnect failed the same way. Bounded, still: a frame is held in
# memory whole.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamConnected:
    url: str
    connection_id: str


@dataclass(frozen=True, slots=True)
class StreamDisconnected:
    url: str
    reason: str


@dataclass(frozen=True, slots=True)
class BlockHeight:
    height: int
    time: datetime
    snapshot: bool


@dataclass(frozen=True, slots=True)
class SubaccountSnapshot:
    address: str
    subaccount_number: int
    contents: SubaccountSnapshotContents


@dataclass(frozen=True, slots=True)
class SubaccountUpdate:
    address: str
    subaccount_number: int
    contents: SubaccountUpdateContents
    version: str | None


StreamEvent = (
    StreamConnected | StreamDisconnected | BlockHeight | SubaccountSnapshot | SubaccountUpdate
)


class _Resync(Exception):
    """Internal: drop this connection and start over (bad message, idle peer)."""


def _subaccount_key(channel_id: str) -> tuple[str, int]:
    address, _, number = channel_id.rpartition("/")
    return address, int(number)


class IndexerStream:
    """Async iterator of :data:`StreamEvent` with reconnects; see the module docstring."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        subaccounts: Sequence[tuple[str, int]] = (),
        block_height: bool = True,
        open_timeout: float = 10.0,
        ping_interval: float = 15.0,
        ping_timeout: float = 10.0,
        idle_timeout: float = 30.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        if not urls:
            raise ValueError("at least one websocket URL is required")
        self._urls = list(urls)
        self._subaccounts = [f"{address}/{number}" for address, number in subaccounts]
        self._block_height = block_height
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._idle_timeout = idle_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._index = 0
        self._closed = False
        self._ws: ClientConnection | None = None
        # The subaccount channels subscribed on the current connection, and the sends that
        # (un)subscribe on it for follow()/unfollow() (kept so they are not collected).
        self._subscribed: set[str] = set()
        self._sends: set[asyncio.Task[None]] = set()

    @property
    def following(self) -> list[tuple[str, int]]:
        return [_subaccount_key(c) for c in self._subaccounts]

    def follow(self, address: str, number: int) -> bool:
        """Follow ``address/number`` from now on (subscribed at once when connected); False if
        it is followed already."""
        channel_id = f"{address}/{number}"
        if channel_id in self._subaccounts:
            return False
        self._subaccounts.append(channel_id)
        if self._ws is not None:
            self._spawn_send(self._subscribe(self._ws, channel_id))
        return True

    def unfollow(self, address: str, number: int) -> None:
        channel_id = f"{address}/{number}"
        if channel_id not in self._subaccounts:
            return
        self._subaccounts.remove(channel_id)
        if self._ws is not None and channel_id in self._subscribed:
            self._subscribed.discard(channel_id)
            message = {"type": "unsubscribe", "channel": SUBACCOUNTS, "id": channel_id}
            self._spawn_send(self._ws.send(json.dumps(message)))

    def _spawn_send(self, send: Coroutine[Any, Any, None]) -> None:
        async def guarded() -> None:
            # A connection lost meanwhile: the next one subscribes the whole set.
            with contextlib.suppress(OSError, WebSocketException):
                await send

        task = asyncio.create_task(guarded())
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def close(self) -> None:
        self._closed = True
        if self._ws is not None:
            await self._ws.close()

    async def events(self) -> AsyncIterator[StreamEvent]:
        failures = 0
        while not self._closed:
            url = self._urls[self._index]
            reason = "closed"
            try:
                async with websockets.connect(
                    url,
                    open_timeout=self._open_timeout,
                    ping_interval=self._ping_interval,
                    ping_timeout=self._ping_timeout,
                    close_timeout=2,
                    max_size=MAX_MESSAGE_BYTES,
                ) as ws:
                    self._ws = ws
                    await self._subscribe_all(ws)
                    async for event in self._read(ws, url):
                        failures = 0
                        yield event
            except _Resync as e:
                reason = str(e)
            except (OSError, TimeoutError, InvalidURI, InvalidHandshake, WebSocketException) as e:
                reason = f"{type(e).__name__}: {e}"
            finally:
                self._ws = None
            if self._closed:
                return
            log.warning("indexer_stream_disconnected", url=url, reason=reason)
            yield StreamDisconnected(url=url, reason=reason)
            failures += 1
            self._index = (self._index + 1) % len(self._urls)
            delay = min(self._backoff_max, self._backoff_initial * 2 ** (failures - 1))
            await asyncio.sleep(delay)

    async def _subscribe_all(self, ws: ClientConnection) -> None:
        self._subscribed = set()
        if self._block_height:
            await ws.send(json.dumps({"type": "subscribe", "channel": BLOCK_HEIGHT}))
        for channel_id in list(self._subaccounts):
            await self._subscribe(ws, channel_id)

    async def _subscribe(self, ws: ClientConnection, channel_id: str) -> None:
        # Marked before the send: a follow() during it must not subscribe twice (socks answers
        # a second subscription with an error).
        if channel_id in self._subscribed or ws is not self._ws:
            return
        self._subscribed.add(channel_id)
        await ws.send(json.dumps({"type": "subscribe", "channel": SUBACCOUNTS, "id": channel_id}))

    async def _resubscribe_subaccounts(self, ws: ClientConnection) -> None:
        for channel_id in list(self._subaccounts):
            await ws.send(
                json.dumps({"type": "unsubscribe", "channel": SUBACCOUNTS, "id": channel_id})
            )
            self._subscribed.discard(channel_id)
            await self._subscribe(ws, channel_id)

    async def _read(self, ws: ClientConnection, url: str) -> AsyncIterator[StreamEvent]:
        last_id: int | None = None
        while True:
            try:
                async with asyncio.timeout(self._idle_timeout):
                    raw = await ws.recv()
            except TimeoutError:
                raise _Resync(f"no message for {self._idle_timeout:g} s") from None
            try:
                message = orjson.loads(raw)  # a third of json.loads' time per message
                if not isinstance(message, dict):
                    raise TypeError("not an object")
            except (ValueError, TypeError) as e:
                raise _Resync(f"malformed message: {e}") from None

            message_id = message.get("message_id")
            if isinstance(message_id, int):
                if last_id is not None and message_id != last_id + 1 and self._subaccounts:
                    log.warning("indexer_stream_gap", expected=last_id + 1, got=message_id)
                    await self._resubscribe_subaccounts(ws)
                last_id = message_id

            try:
                for event in self._events_of(message, url):
                    yield event
            except ValidationError as e:
                raise _Resync(
                    f"unexpected {message.get('channel')} payload: {e.errors()[0]}"
                ) from e

    def _events_of(self, message: dict[str, Any], url: str) -> list[StreamEvent]:
        kind = message.get("type")
        channel = message.get("channel")
        if kind == "connected":
            return [StreamConnected(url=url, connection_id=str(message.get("connection_id")))]
        if kind == "error":
            text = str(message.get("message", ""))
            if channel == SUBACCOUNTS and message.get("id") in self._subaccounts:
                if "already subscribed" in text:
                    return []  # a follow() raced a resubscription: it is subscribed
                raise IndexerBadRequest(f"indexer refused the subscription: {text}")
            log.warning("indexer_stream_error", message=text, channel=channel)
            return []
        if kind not in ("subscribed", "channel_data", "channel_batch_data"):
            return []  # pong, unsubscribed
        snapshot = kind == "subscribed"
        contents = message.get("contents")
        batch = (
            contents if kind == "channel_batch_data" and isinstance(contents, list) else [contents]
        )
        if channel == BLOCK_HEIGHT:
            return [
                BlockHeight(**BlockHeightContents.model_validate(c).model_dump(), snapshot=snapshot)
                for c in batch
            ]
        if channel == SUBACCOUNTS:
            address, number = _subaccount_key(str(message.get("id")))
            if snapshot:
                return [
                    SubaccountSnapshot(
                        address, number, SubaccountSnapshotContents.model_validate(contents)
                    )
                ]
            version = message.get("version")
            return [
                SubaccountUpdate(
                    address,
                    number,
                    SubaccountUpdateContents.model_validate(c),
                    None if version is None else str(version),
                )
                for c in batch
            ]
        return []
