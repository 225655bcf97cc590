"""The composition root takes fakes: ``build_container(settings, uow=...)`` builds every service
over the unit of work it is handed (cosmicpython's ``bootstrap(uow=...)``), and the routes of an
app over that container use it. In process, over PostgreSQL and the devnet."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum
from pydantic import SecretStr

from dydx_router.asgi import create_app
from dydx_router.bootstrap import build_container
from dydx_router.chain.wallet import Wallet
from dydx_router.config import load_settings
from dydx_router.store.database import create_pool
from dydx_router.store.uow import UnitOfWork, UnitOfWorkFactory
from tests.fixtures.db import fresh_database
from tests.fixtures.devnet import DevnetProcess
from tests.fixtures.router import create_key

pytestmark = pytest.mark.e2e


class CountingUow:
    """A unit-of-work factory of the test's own: the real one, counting the units it opens."""

    def __init__(self, real: UnitOfWorkFactory) -> None:
        self.real = real
        self.opened = 0

    def __call__(self) -> UnitOfWork:
        self.opened += 1
        return self.real()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def composed_env(
    devnet: DevnetProcess, pg_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The environment of a router of its own (database, funded wallet); yields its API key."""
    mnemonic = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_24))
    asyncio.run(devnet.fund(Wallet.from_mnemonic(SecretStr(mnemonic)).address, "1000"))
    with fresh_database(pg_server_url, "composition") as url:
        _, key = asyncio.run(create_key(url, {"read"}))
        env = {
            "DATABASE_URL": url,
            "DYDX_ROUTER_MNEMONIC": mnemonic,
            "DYDX_ROUTER_NETWORK": "devnet",
            "DYDX_ROUTER_NODE_ENDPOINTS": devnet.grpc,
            "DYDX_ROUTER_INDEXER_URLS": devnet.indexer,
            "DYDX_ROUTER_INDEXER_WS_URLS": devnet.ws,
            "DYDX_ROUTER_SHARED_RATE_LIMITS": "memory",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield key


async def test_an_injected_unit_of_work_is_what_the_routes_use(composed_env: str) -> None:
    settings = load_settings()
    pool = await create_pool(settings.require_database_url(), min_size=1, max_size=2)
    counting = CountingUow(UnitOfWorkFactory(pool))
    container = await build_container(settings, workers=False, uow=counting)  # type: ignore[arg-type]
    try:
        built: Any = container.uow
        assert built is counting and container.orders.uow is built
        app = create_app(settings, container=container)
        auth = {"Authorization": f"Bearer {composed_env}"}
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                before = counting.opened
                listed = await client.get("/v1/orders", headers=auth)
                assert listed.status_code == 200, listed.text
                assert counting.opened > before  # the route read through the injected one
    finally:
        await container.aclose()
        await pool.close()
