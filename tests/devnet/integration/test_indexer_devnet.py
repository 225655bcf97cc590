"""The indexer attached to a running devnet, over real sockets: REST (httpx) and websocket.

Txs are signed with the project's own signer and go through the engine's CheckTx; blocks are
stepped by hand (block_time 0) so every test controls exactly when the chain moves. Every 200
body is validated against the real indexer's OpenAPI spec.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import websockets
from pydantic import SecretStr
from tests.fixtures.indexer_swagger import IndexerSwagger

from dydx_devnet.app import Devnet, DevnetConfig
from dydx_devnet.indexer import create_attachment
from dydx_devnet.indexer.fmt import dec
from dydx_devnet.indexer.ids import order_uuid
from dydx_router.chain import tx as chain_tx
from dydx_router.chain.wallet import Wallet

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

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


@pytest.fixture(scope="module")
async def devnet() -> AsyncIterator[Devnet]:
    d = Devnet(DevnetConfig(grpc_port=0, indexer_port=0, ws_port=0, admin_port=0, block_time=0))
    d.attach(create_attachment())
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


@pytest.fixture(scope="module")
async def chain(devnet: Devnet, indexer_swagger: IndexerSwagger) -> AsyncIterator[Chain]:
    async with httpx.AsyncClient(base_url=devnet.indexer_url, timeout=10) as http:
        c = Chain(devnet, http, indexer_swagger)
        await c.fund(TRADER, 100_000)
        await c.fund(OTHER, 100_000)
        yield c


def best_ask(devnet: Devnet) -> int:
    book = devnet.state.book(BTC)
    assert book is not None and book.asks, "the market makers quote BTC-USD"
    return book.asks[0].subticks


# ---- REST ------------------------------------------------------------------------------------
async def test_height_and_markets_follow_the_chain(chain: Chain) -> None:
    body = await chain.get("/height")
    assert int(body["height"]) == chain.height
    await chain.step(2)
    assert int((await chain.get("/height"))["height"]) == chain.height
    markets = (await chain.get("/perpetualMarkets"))["markets"]
    state_market = chain.devnet.state.market(BTC)
    assert state_market is not None
    oracle = chain.devnet.state.oracle_price(state_market.market_param.id).human
    assert Decimal(markets["BTC-USD"]["oraclePrice"]) == oracle
    await chain.get("/time")


async def test_a_fill_shows_in_fills_positions_orders_and_the_subaccount(chain: Chain) -> None:
    ask = best_ask(chain.devnet)
    _, _, uid = chain.order(TRADER, chain_tx.Side.BUY, 1_000_000, ask, tif=chain_tx.TimeInForce.IOC)
    await chain.step()
    await chain.until(lambda: True, "")
    assert await chain.status(uid) == "FILLED"
    q = {"address": TRADER.address, "subaccountNumber": 0}
    fills = (await chain.get("/fills", **q))["fills"]
    mine = [f for f in fills if f["orderId"] == uid]
    assert len(mine) == 1 and mine[0]["liquidity"] == "TAKER" and mine[0]["size"] == "0.0001"
    positions = (await chain.get("/perpetualPositions", **q))["positions"]
    btc = [p for p in positions if p["market"] == "BTC-USD" and p["status"] == "OPEN"]
    assert btc and Decimal(btc[0]["size"]) > 0 and btc[0]["side"] == "LONG"
    sub = (
        await chain.get(
            f"/addresses/{TRADER.address}/subaccountNumber/0",
            "/addresses/{address}/subaccountNumber/{subaccountNumber}",
        )
    )["subaccount"]
    chain_sub = chain.devnet.state.subaccount(TRADER.address, 0)
    assert chain_sub is not None
    assert (
        Decimal(sub["assetPositions"]["USDC"]["size"]) == Decimal(chain_sub.usdc_quantums) / 10**6
    )
    assert sub["openPerpetualPositions"]["BTC-USD"]["size"] == btc[0]["size"]
    await chain.get("/assetPositions", **q)
    await chain.get("/historical-pnl", **q)
    await chain.get(f"/addresses/{TRADER.address}", "/addresses/{address}")
    orders = await chain.get("/orders", **q)
    assert uid in [o["id"] for o in orders]
    book = await chain.get(
        "/orderbooks/perpetualMarket/BTC-USD", "/orderbooks/perpetualMarket/{ticker}"
    )
    prices = [Decimal(b["price"]) for b in book["bids"]]
    assert prices == sorted(prices, reverse=True) and book["asks"]


async def test_short_term_order_statuses_follow_the_real_indexer(chain: Chain) -> None:
    far = best_ask(chain.devnet) // 2 // 100_000 * 100_000
    oid, expiry, uid = chain.order(TRADER, chain_tx.Side.BUY, 1_000_000, far)
    await chain.until(lambda: uid in chain._indexer().projection.cache, "the placement")
    assert await chain.status(uid) == "BEST_EFFORT_OPENED"
    chain.submit(TRADER, chain_tx.cancel_order(oid, good_til_block=expiry["good_til_block"]))
    await chain.until(lambda: uid not in chain._indexer().projection.cache, "the cancel")
    assert await chain.status(uid) == 404  # vulcan order-remove-handler.ts updates rows only


async def test_long_term_order_is_open_after_its_block_and_canceled_after_the_next(
    chain: Chain,
) -> None:
    far = best_ask(chain.devnet) // 2 // 100_000 * 100_000
    oid, expiry, uid = chain.order(TRADER, chain_tx.Side.BUY, 2_000_000, far, long_term=True)
    await chain.step()
    assert await chain.status(uid) == "OPEN"
    chain.submit(
        TRADER, chain_tx.cancel_order(oid, good_til_block_time=expiry["good_til_block_time"])
    )
    await chain.step()
    assert await chain.status(uid) == "CANCELED"


# ---- websocket -------------------------------------------------------------------------------
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


async def test_websocket_subaccount_channel_reports_placement_and_cancel(
    chain: Chain, indexer_swagger: IndexerSwagger
) -> None:
    async with websockets.connect(chain.devnet.ws_url) as ws:
        inbox = Inbox(ws)
        connected = await inbox.next()
        assert connected["type"] == "connected" and connected["message_id"] == 0
        sub_id = f"{TRADER.address}/0"
        await ws.send(json.dumps({"type": "subscribe", "channel": "v4_subaccounts", "id": sub_id}))
        subscribed = await inbox.next()
        assert (subscribed["type"], subscribed["channel"], subscribed["id"]) == (
            "subscribed", "v4_subaccounts", sub_id,
        )  # fmt: skip
        contents = subscribed["contents"]
        assert set(contents) == {"subaccount", "orders", "blockHeight"}
        indexer_swagger.validate_component("SubaccountResponseObject", contents["subaccount"])
        for o in contents["orders"]:
            indexer_swagger.validate_component("OrderResponseObject", o)

        far = best_ask(chain.devnet) // 2 // 100_000 * 100_000
        oid, expiry, uid = chain.order(TRADER, chain_tx.Side.BUY, 1_000_000, far)
        placed = await inbox.next(lambda m: m["type"] == "channel_data")
        assert (placed["channel"], placed["id"], placed["version"]) == (
            "v4_subaccounts", sub_id, "3.0.0",
        )  # fmt: skip
        assert placed["message_id"] > subscribed["message_id"]
        order = placed["contents"]["orders"][0]
        assert (order["id"], order["status"]) == (uid, "BEST_EFFORT_OPENED")

        chain.submit(TRADER, chain_tx.cancel_order(oid, good_til_block=expiry["good_til_block"]))
        canceled = await inbox.next(lambda m: m["type"] == "channel_data")
        order = canceled["contents"]["orders"][0]
        assert (order["id"], order["status"]) == (uid, "BEST_EFFORT_CANCELED")
        assert order["removalReason"] == "ORDER_REMOVAL_REASON_USER_CANCELED"
        assert canceled["message_id"] > placed["message_id"]


async def test_websocket_block_height_orderbook_markets_ping_and_errors(chain: Chain) -> None:
    async with websockets.connect(chain.devnet.ws_url) as ws:
        inbox = Inbox(ws)
        await inbox.next()  # connected
        await ws.send(json.dumps({"type": "subscribe", "channel": "v4_block_height"}))
        sub = await inbox.next()
        assert sub["type"] == "subscribed" and int(sub["contents"]["height"]) == chain.height
        await ws.send(json.dumps({"type": "subscribe", "channel": "v4_orderbook", "id": "BTC-USD"}))
        book = await inbox.next(lambda m: m["type"] == "subscribed")
        assert book["contents"]["asks"] and set(book["contents"]["asks"][0]) == {"price", "size"}
        await ws.send(json.dumps({"type": "subscribe", "channel": "v4_markets", "batched": True}))
        markets = await inbox.next(lambda m: m["type"] == "subscribed")
        assert "id" not in markets and "BTC-USD" in markets["contents"]["markets"]

        state_market = chain.devnet.state.market(BTC)
        assert state_market is not None
        oracle = chain.devnet.state.oracle_price(state_market.market_param.id)
        chain.devnet.engine.set_oracle_price(oracle.id, oracle.price + 100_000)
        await chain.step()
        block = await inbox.next(lambda m: m.get("channel") == "v4_block_height")
        assert block["type"] == "channel_data"
        assert block["contents"]["blockHeight"] == str(chain.height)
        # A new resting bid: the level update is a [price, absolute size] array.
        far = best_ask(chain.devnet) // 3 // 100_000 * 100_000
        chain.order(OTHER, chain_tx.Side.BUY, 1_000_000, far)
        market = chain.devnet.state.market(BTC)
        assert market is not None
        price = dec(market.price(far))
        update = await inbox.next(
            lambda m: (
                m.get("channel") == "v4_orderbook"
                and price in [level[0] for level in m["contents"].get("bids", [])]
            ),
        )
        assert (update["type"], update["id"], update["version"]) == (
            "channel_data", "BTC-USD", "1.0.0",
        )  # fmt: skip
        assert [price, "0.0001"] in update["contents"]["bids"]

        # Subscribed with `batched`: the markets update comes as channel_batch_data.
        batch = await inbox.next(lambda m: m.get("channel") == "v4_markets")
        assert batch["type"] == "channel_batch_data" and "id" not in batch
        prices = [c["oraclePrices"]["BTC-USD"] for c in batch["contents"] if "oraclePrices" in c]
        assert Decimal(prices[-1]["oraclePrice"]) == oracle.human + Decimal("1")

        await ws.send(json.dumps({"type": "ping", "id": 7}))
        pong = await inbox.next(lambda m: m["type"] == "pong")
        assert pong["id"] == 7
        await ws.send(json.dumps({"type": "subscribe", "channel": "v4_nope"}))
        error = await inbox.next(lambda m: m["type"] == "error")
        assert error["message"] == "Invalid channel: v4_nope"
        await ws.send(json.dumps({"type": "subscribe", "channel": "v4_orderbook", "id": "NO-USD"}))
        error = await inbox.next(lambda m: m["type"] == "error")
        assert error["message"] == "Invalid subscription id for channel: (v4_orderbook-NO-USD)"
        await ws.send("{not json")
        error = await inbox.next(lambda m: m["type"] == "error")
        assert error["message"] == "Invalid message: could not parse"
        await ws.send(json.dumps({"type": "subscribe", "channel": "v4_block_height"}))
        error = await inbox.next(lambda m: m["type"] == "error")
        assert error["message"].startswith("Invalid subscribe message: already subscribed")

        # An unknown subaccount subscribes with empty contents (socks turns the 404 into {}).
        nobody = f"{OTHER.address[:-6]}qqqqqq/5"
        await ws.send(json.dumps({"type": "subscribe", "channel": "v4_subaccounts", "id": nobody}))
        empty = await inbox.next(lambda m: m["type"] == "subscribed")
        assert (empty["id"], empty["contents"]) == (nobody, {})

        await ws.send(json.dumps({"type": "unsubscribe", "channel": "v4_block_height"}))
        unsubscribed = await inbox.next(lambda m: m["type"] == "unsubscribed")
        assert unsubscribed["channel"] == "v4_block_height"
        await chain.step()
        await ws.send(json.dumps({"type": "ping"}))
        await inbox.next(lambda m: m["type"] == "pong")
        heights = [m for m in inbox.kept if m.get("channel") == "v4_block_height"]
        assert all(int(m["contents"]["blockHeight"]) < chain.height for m in heights)


# ---- faults ----------------------------------------------------------------------------------
async def test_indexer_faults_unavailable_and_lag(chain: Chain) -> None:
    faults = chain.devnet.faults
    try:
        faults.indexer_unavailable = True
        r = await chain.http.get("/v4/height")
        assert r.status_code == 503
        faults.indexer_unavailable = False
        faults.indexer_lag_blocks = 2
        before = chain.height
        chain.devnet.step_blocks(3)
        await asyncio.sleep(0.3)
        seen = int((await chain.get("/height"))["height"])
        assert seen == before + 1  # two blocks behind the chain
    finally:
        faults.indexer_unavailable = False
        faults.indexer_lag_blocks = 0
    await chain.until(lambda: chain.devnet_height_seen() == chain.height, "catch-up")


# ---- consistency -----------------------------------------------------------------------------
async def test_indexer_agrees_with_the_chain_after_trading(chain: Chain) -> None:
    """Books, balances and positions rebuilt from events equal the chain's own state."""
    ask = best_ask(chain.devnet)
    book = chain.devnet.state.book(BTC)
    assert book is not None and book.bids
    bid = book.bids[0].subticks
    for wallet, side, price in (
        (TRADER, chain_tx.Side.BUY, ask),
        (OTHER, chain_tx.Side.SELL, bid),
        (OTHER, chain_tx.Side.BUY, ask),
    ):
        chain.order(wallet, side, 2_000_000, price, tif=chain_tx.TimeInForce.IOC)
    resting = [
        chain.order(TRADER, chain_tx.Side.BUY, 1_000_000, bid - 300_000),
        chain.order(OTHER, chain_tx.Side.SELL, 3_000_000, ask + 500_000),
    ]
    chain.submit(
        TRADER,
        chain_tx.cancel_order(resting[0][0], good_til_block=resting[0][1]["good_til_block"]),
    )
    await chain.step(2)
    projection = chain._indexer().projection
    state = chain.devnet.state
    for market in state.markets():
        snap = state.book(market.clob_pair_id)
        assert snap is not None
        row = projection.markets[market.clob_pair_id]
        assert {lv.subticks: lv.quantums for lv in snap.bids} == row.bids, market.ticker
        assert {lv.subticks: lv.quantums for lv in snap.asks} == row.asks, market.ticker
    for sub in state.subaccounts():
        mine = projection.subaccounts[sub.id]
        assert mine.usdc_quantums == sub.usdc_quantums
        assert {p.perpetual_id: p.quantums for p in sub.perpetual_positions if p.quantums} == {
            pid: pos.size for pid, pos in mine.open_positions.items()
        }
