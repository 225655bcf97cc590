"""A client that stops reading its event stream, over real HTTP (issue 16): the other streams go
on receiving every event, the router's memory stays bounded while the stalled client's socket
buffers are full, and when the client reads again its stream ends with an ``error`` event
(``slow_reader``) that names the last id it was sent; resuming from that id gives every later
event exactly once (the events are in the log).

The events are written straight into the event log (as the triggers write them) with a large
payload, so that a few hundred fill the kernel's socket buffers (megabytes on loopback) quickly."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import psutil
import pytest

from dydx_router.store.database import asyncpg_dsn
from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import RouterProcess, start_router, stop_router
from tests.router.e2e.test_events import Sse

pytestmark = pytest.mark.e2e
QUEUE_MAX = 10
PAYLOAD = 64 * 1024  # bytes of text per event
CHUNKS, PER_CHUNK = 60, 10  # 600 events, ~38 MB of stream


@pytest.fixture(scope="module")
def slowrouter(devnet: DevnetProcess, pg_server_url: str) -> Iterator[RouterProcess]:
    env = {
        "DYDX_ROUTER_EVENTS_QUEUE_MAX": str(QUEUE_MAX),
        "DYDX_ROUTER_EVENTS_HEARTBEAT_S": "1",
        # Longer than the stall: the router must end the stream by its queue bound.
        "DYDX_ROUTER_EVENTS_SEND_TIMEOUT_S": "120",
    }
    with fresh_database(pg_server_url, "slowreader") as url:
        r = start_router(devnet, url, "slowreader", env)
        try:
            yield r
        finally:
            stop_router(r)


async def _write_events(database_url: str, n: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO events (kind, at, payload) SELECT 'trading_state', now(), "
                "jsonb_build_object('state', 'ACTIVE', 'reason', repeat('x', $1)) "
                "FROM generate_series(1, $2)",
                PAYLOAD,
                n,
            )
            await conn.execute("SELECT pg_notify('dydx_router_controls', 'events')")
    finally:
        await conn.close()


class StalledClient:
    """An SSE client on a raw socket with a small receive buffer that reads the response's
    head and then nothing, until told to read everything."""

    def __init__(self, r: RouterProcess) -> None:
        url = urlsplit(r.url)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((url.hostname, url.port))
        self.sock.sendall(
            f"GET /v1/events HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Bearer {r.api_key}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        self.sock.settimeout(10)
        self.received = b""
        while b": connected" not in self.received:
            self.received += self.sock.recv(4096)
        assert self.received.startswith(b"HTTP/1.1 200")

    def read_to_end(self, within: float = 60) -> bytes:
        """Read until the response ends: its last chunk (the connection itself may stay open
        for the next request, DYDX_ROUTER_KEEP_ALIVE_S) or the connection's close."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return self.received
            self.received += chunk
            if self.received.endswith(b"\r\n0\r\n\r\n"):
                return self.received
        pytest.fail("the router did not end the stalled stream")


def sse_events(raw: bytes) -> list[tuple[str, int | None, dict[str, Any]]]:
    """(event, id, data) of every event in a chunked HTTP body, ignoring the chunk framing
    (a chunk-size line holds only hex digits, never ``event:``/``id:``/``data:``)."""
    out = []
    for block in raw.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n").split(b"\n\n"):
        fields: dict[str, str] = {}
        for line in block.decode().split("\n"):
            name, sep, value = line.partition(": ")
            if sep and name in ("event", "id", "data"):
                fields[name] = fields.get(name, "") + value
        if "data" in fields:
            ident = fields.get("id")
            out.append((fields.get("event", "message"), int(ident) if ident else None, fields))
    return [(e, i, json.loads(f["data"])) for e, i, f in out]


def test_a_stalled_reader_is_dropped_without_stalling_others_or_growing_memory(
    slowrouter: RouterProcess,
) -> None:
    stalled = StalledClient(slowrouter)
    try:
        check_the_stall(slowrouter, stalled)
    finally:
        stalled.sock.close()


def check_the_stall(slowrouter: RouterProcess, stalled: StalledClient) -> None:
    rss = psutil.Process(slowrouter.process.pid).memory_info
    healthy = Sse(slowrouter)
    try:
        before = rss().rss
        seen: list[int] = []
        for _ in range(CHUNKS):
            asyncio.run(_write_events(slowrouter.database_url, PER_CHUNK))
            # The healthy stream gets each chunk while the stalled one is stuck.
            got = healthy.take(PER_CHUNK, within=30)
            assert {e[0] for e in got} == {"trading_state"}
            seen += [e[1] for e in got if e[1] is not None]
        grown = rss().rss - before
        assert seen == list(range(seen[0], seen[0] + CHUNKS * PER_CHUNK))
    finally:
        healthy.close()
    # Unbounded, the stalled stream would hold ~38 MB of events; bounded, QUEUE_MAX of them
    # (the rest is in the kernel's socket buffers, not the router's memory).
    assert grown < CHUNKS * PER_CHUNK * PAYLOAD / 2, f"router grew by {grown / 1e6:.1f} MB"

    events = sse_events(stalled.read_to_end())
    *delivered, last = events
    assert last[0] == "error" and last[2]["code"] == "slow_reader", last
    ids = [e[1] for e in delivered]
    assert ids and ids == list(range(seen[0], ids[-1] + 1))  # in order, none skipped
    assert last[2]["last_event_id"] == ids[-1]
    assert f"Last-Event-ID: {ids[-1]}" in last[2]["message"]
    assert len(ids) < len(seen)  # it was dropped before the end

    # Resuming from the id it names gives the rest, each once.
    resumed = Sse(slowrouter, last_event_id=last[2]["last_event_id"])
    try:
        rest = resumed.take(seen[-1] - ids[-1], within=60)
    finally:
        resumed.close()
    assert ids + [e[1] for e in rest] == seen
