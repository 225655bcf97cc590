"""The indexer attached to a running devnet, driven by hand for its integration tests
(test_indexer_devnet.py, test_indexer_devnet_ws.py): the module-scoped ``devnet`` and ``chain``
fixtures, which a test module imports (not in conftest.py: ``devnet`` would shadow the fixture of
that name other modules use), and the websocket ``Inbox``.

Txs are signed with the project's own signer and go through the engine's CheckTx; blocks are
stepped by hand (block_time 0) so every test controls exactly when the chain moves.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from tests.fixtures.indexer_swagger import IndexerSwagger

from dydx_devnet.app import Devnet, DevnetConfig
from dydx_devnet.indexer import create_attachment
from dydx_devnet.indexer.ids import order_uuid
from dydx_router.chain import tx as chain_tx
from dydx_router.chain.wallet import Wallet

# BIP39 reference vectors (trezor/python-mnemonic vectors.json): keys nobody funds for real.
TRADER = Wallet.from_mnemonic(
    SecretStr("legal winner thank year wave sausage worth useful legal winner thank yellow")
)
OTHER = Wallet.from_mnemonic(
    SecretStr("letter advice cage absurd amount doctor acoustic avoid letter advice cage above")
)
BTC = 0
WAIT_S = 5.0


class Chain:
    """Drive the devnet: fund through the faucet, sign and check txs, step blocks."""

    def __init__(self, devnet: Devnet, http: httpx.AsyncClient, swagger: IndexerSwagger) -> None:
        self.devnet = devnet
        self.http = http
        self.swagger = swagger
        self.client_id = int(time.time()) % 1_000_000

    def next_client_id(self) -> int:
        self.client_id += 1
        return self.client_id

    @property
    def height(self) -> int:
        return self.devnet.state.height

    async def step(self, n: int = 1) -> None:
        target = self.devnet.step_blocks(n)
        await self.until(lambda: self.devnet_height_seen() >= target, f"indexer at {target}")

    def devnet_height_seen(self) -> int:
        r = self._indexer().projection.height
        return r or 0

    def _indexer(self) -> Any:
        return self.devnet._attachments[0].indexer  # type: ignore[attr-defined]

    async def until(self, predicate: Any, what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    async def fund(self, wallet: Wallet, usdc: int) -> None:
        r = await self.http.post(
            "/faucet/tokens",
            json={"address": wallet.address, "subaccountNumber": 0, "amount": usdc},
        )
        assert r.status_code == 202, r.text
        await self.step()

    def submit(self, wallet: Wallet, msg: Any) -> Any:
        acc = self.devnet.state.account(wallet.address)
        assert acc is not None, "fund the wallet first"
        signed = chain_tx.sign_tx(
            wallet,
            [msg],
            chain_id=self.devnet.state.chain_id,
            account_number=acc.account_number,
            sequence=acc.sequence,
        )
        result = self.devnet.engine.check_tx(signed.tx_bytes)
        assert result.code == 0, result
        return result

    def order(
        self,
        wallet: Wallet,
        side: chain_tx.Side,
        quantums: int,
        subticks: int,
        *,
        long_term: bool = False,
        tif: chain_tx.TimeInForce = chain_tx.TimeInForce.UNSPECIFIED,
    ) -> tuple[chain_tx.ChainOrderId, Any, str]:
        flags = chain_tx.OrderFlags.LONG_TERM if long_term else chain_tx.OrderFlags.SHORT_TERM
        oid = chain_tx.ChainOrderId(wallet.address, 0, self.next_client_id(), BTC, flags)
        expiry: dict[str, int] = (
            {"good_til_block_time": int(time.time()) + 600}
            if long_term
            else {"good_til_block": self.height + 20}
        )
        msg = chain_tx.place_order(
            oid, side=side, quantums=quantums, subticks=subticks, time_in_force=tif, **expiry
        )
        self.submit(wallet, msg)
        uid = order_uuid(wallet.address, 0, oid.client_id, BTC, int(flags))
        return oid, expiry, uid

    async def get(self, path: str, spec: str | None = None, **params: Any) -> Any:
        r = await self.http.get(f"/v4{path}", params=params)
        assert r.status_code == 200, (path, r.text)
        body = r.json()
        self.swagger.validate_response(spec or path, body)
        return body

    async def status(self, uid: str) -> str | int:
        r = await self.http.get(f"/v4/orders/{uid}")
        if r.status_code != 200:
            return r.status_code
        self.swagger.validate_response("/orders/{orderId}", r.json())
        status: str = r.json()["status"]
        return status


# Named apart from their fixture names, so the modules that import them (both fixtures: ``chain``
# asks for ``devnet`` where the test is) do not shadow the import with the test's argument.
@pytest.fixture(scope="module", name="devnet")
async def devnet_fixture() -> AsyncIterator[Devnet]:
    d = Devnet(DevnetConfig(grpc_port=0, indexer_port=0, ws_port=0, admin_port=0, block_time=0))
    d.attach(create_attachment())
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


@pytest.fixture(scope="module", name="chain")
async def chain_fixture(devnet: Devnet, indexer_swagger: IndexerSwagger) -> AsyncIterator[Chain]:
    async with httpx.AsyncClient(base_url=devnet.indexer_url, timeout=10) as http:
        c = Chain(devnet, http, indexer_swagger)
        await c.fund(TRADER, 100_000)
        await c.fund(OTHER, 100_000)
        yield c


def best_ask(devnet: Devnet) -> int:
    book = devnet.state.book(BTC)
    assert book is not None and book.asks, "the market makers quote BTC-USD"
    return book.asks[0].subticks


class Inbox:
    """A websocket's incoming messages; `next(predicate)` takes the first match, earlier or
    later, and keeps the others for later calls (updates of several channels interleave)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.kept: list[dict[str, Any]] = []

    async def next(self, predicate: Any = lambda m: True) -> dict[str, Any]:
        for i, m in enumerate(self.kept):
            if predicate(m):
                return self.kept.pop(i)
        deadline = time.monotonic() + WAIT_S
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no matching websocket message"
            msg: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            if predicate(msg):
                return msg
            self.kept.append(msg)
