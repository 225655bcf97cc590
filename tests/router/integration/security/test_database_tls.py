"""Database transport security and pool settings.

``sslmode`` in ``DATABASE_URL`` reaches both database clients (asyncpg for the service, SQLAlchemy
over asyncpg for migrations). A stand-in server on a real socket shows what each mode puts on the
wire: PostgreSQL's SSLRequest first, and with ``require`` no fall-back to plaintext when the server
declines TLS; with ``verify-full`` an untrusted certificate is refused.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from dydx_router.config import ConfigError, load_settings
from dydx_router.store import migrate
from dydx_router.store.database import create_pool

pytestmark = pytest.mark.integration
SSL_REQUEST = bytes.fromhex("0000000804d2162f")  # length 8, code 80877103
PROTOCOL_3 = bytes.fromhex("00030000")


class StandIn:
    """Answers the first message of each connection as told, records what it received."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.first: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readexactly(8)
            self.first.append(head)
            if head == SSL_REQUEST:
                if self.tls is None:
                    writer.write(b"N")  # "no TLS here": a client that requires it must stop
                    await writer.drain()
                    await reader.read(1024)
                else:
                    writer.write(b"S")
                    await writer.drain()
                    await writer.start_tls(self.tls)
                    await reader.read(1024)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"postgresql://router:pw@127.0.0.1:{port}/dydx"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_require_asks_for_tls_first_and_never_falls_back() -> None:
    stand_in = StandIn()
    async with stand_in as url:
        with pytest.raises((ConnectionError, OSError, asyncpg.PostgresError)):
            await create_pool(url + "?sslmode=require", min_size=1, max_size=1, timeout=5)
    assert stand_in.first and all(m == SSL_REQUEST for m in stand_in.first)


async def test_disable_sends_the_startup_message_in_plaintext() -> None:
    stand_in = StandIn()
    async with stand_in as url:
        with pytest.raises((ConnectionError, OSError, asyncpg.PostgresError, TimeoutError)):
            await create_pool(url + "?sslmode=disable", min_size=1, max_size=1, timeout=2)
    assert stand_in.first and stand_in.first[0][4:8] == PROTOCOL_3


def _certificate(openssl: str, directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def untrusted_server(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a self-signed certificate, and a root that did not sign it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make test certificates")
    cert, key = _certificate(openssl, tmp_path, "server")
    other_root, _ = _certificate(openssl, tmp_path, "root")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, other_root


async def test_verify_full_refuses_an_untrusted_certificate(
    untrusted_server: tuple[ssl.SSLContext, Path],
) -> None:
    context, root = untrusted_server
    stand_in = StandIn(context)
    async with stand_in as url:
        with pytest.raises(ssl.SSLCertVerificationError):
            await create_pool(
                f"{url}?sslmode=verify-full&sslrootcert={root}", min_size=1, max_size=1, timeout=5
            )
    assert stand_in.first[0] == SSL_REQUEST


def test_migrations_honour_sslmode_too() -> None:
    async def run() -> list[bytes]:
        stand_in = StandIn()
        async with stand_in as url:
            with pytest.raises(Exception) as info:
                await asyncio.to_thread(migrate.upgrade, url + "?sslmode=require")
            assert not isinstance(info.value, AssertionError)
        return stand_in.first

    first = asyncio.run(run())
    assert first and first[0] == SSL_REQUEST


@pytest.fixture
async def sized_pool(database_url: str) -> AsyncIterator[Any]:
    pool = await create_pool(database_url, min_size=3, max_size=5)
    yield pool
    await pool.close()


async def test_the_pool_opens_its_minimum_and_stops_at_its_maximum(sized_pool: Any) -> None:
    assert (sized_pool.get_min_size(), sized_pool.get_max_size()) == (3, 5)
    assert sized_pool.get_size() == 3
    held = [await sized_pool.acquire() for _ in range(5)]
    with pytest.raises(TimeoutError):
        await sized_pool.acquire(timeout=0.2)  # a sixth waits: the maximum holds
    for conn in held:
        await sized_pool.release(conn)


def test_pool_settings_are_validated() -> None:
    s = load_settings(db_pool_min_size=4, db_pool_max_size=32)
    assert (s.db_pool_min_size, s.db_pool_max_size) == (4, 32)
    with pytest.raises(ConfigError, match="POOL"):
        load_settings(db_pool_min_size=10, db_pool_max_size=5)
