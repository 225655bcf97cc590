"""The LISTEN connection notices a server that went silent without closing anything (its machine
gone, a partition): it pings, gives up on the dead connection and connects again. Without the
ping it would wait for notifications that never come, and the kill switch would reach this
replica only by the poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import pytest

from dydx_router.store import notify

pytestmark = pytest.mark.integration


@dataclass
class SilentableProxy:
    """Forwards to the server; while ``silent`` it swallows every byte and closes nothing."""

    target: tuple[str, int]
    silent: bool = False
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if not self.silent:
                    dst.write(data)
                    await dst.drain()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except OSError:
            pass
        finally:
            writer.transport.abort()
            up_writer.transport.abort()


@pytest.fixture
async def proxied(database_url: str) -> AsyncIterator[tuple[SilentableProxy, str]]:
    parts = urlsplit(database_url)
    user, _, host = parts.netloc.rpartition("@")
    name, _, port = host.rpartition(":")
    proxy = SilentableProxy((name, int(port or 5432)))
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield proxy, urlunsplit(parts._replace(netloc=f"{user}@{address}"))
    finally:
        server.close()
        for w in proxy.writers:
            w.transport.abort()
        await asyncio.sleep(0.05)


async def test_a_silent_server_is_left_and_reconnected(
    proxied: tuple[SilentableProxy, str],
) -> None:
    proxy, url = proxied
    listener = notify.Listener(url, reconnect_s=0.1, ping_s=0.3, timeout_s=0.5)
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        proxy.silent = True  # from now on nothing gets through, and nothing is closed
        silent_at = time.monotonic()
        while listener.connected.is_set():
            assert time.monotonic() - silent_at < 5, "still 'connected' to a silent server"
            await asyncio.sleep(0.02)
        proxy.silent = False  # the path is back: a new connection subscribes again
        await asyncio.wait_for(listener.connected.wait(), 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
