"""A multi-host DATABASE_URL (libpq style): each host gets its share of the connect timeout, so a
first host that hangs (its machine gone: the connect is never refused) does not use it all, and
the host that answered is tried first next time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from dydx_router.store.database import create_pool
from dydx_router.store.hosts import connect_any, split_hosts

pytestmark = pytest.mark.integration


@pytest.fixture
async def black_hole() -> AsyncIterator[str]:
    """A port that accepts TCP connections and never says a word (a hung server)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for w in held:
            w.transport.abort()


def _behind(url: str, first_host: str) -> str:
    parts = urlsplit(url)
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user}@{first_host},{host}"))


async def test_a_hung_first_host_leaves_time_for_the_next(
    database_url: str, black_hole: str
) -> None:
    url = _behind(database_url, black_hole)
    assert len(split_hosts(url)) == 2
    started = time.monotonic()
    conn = await connect_any(url, timeout=4)
    first_s = time.monotonic() - started
    try:
        assert await conn.fetchval("SELECT NOT pg_is_in_recovery()")
    finally:
        await conn.close()
    # The hung host had half of the 4 s; the real one answered at once.
    assert 1.5 < first_s < 3.5, first_s
    # Next time the host that answered is tried first: well under the 2 s the hung host would take.
    started = time.monotonic()
    conn = await connect_any(url, timeout=4)
    await conn.close()
    assert time.monotonic() - started < 1.5


async def test_the_pool_skips_a_refusing_host(database_url: str) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on: refused at once
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    pool = await create_pool(_behind(database_url, dead), min_size=1, max_size=2, timeout=4)
    try:
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await pool.close()
