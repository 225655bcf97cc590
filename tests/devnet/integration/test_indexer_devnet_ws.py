"""The indexer's websocket on a running devnet, over a real socket: every channel's subscribe,
updates and errors, the subscribed contents validated against the real indexer's OpenAPI spec.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import websockets
from tests.devnet.integration.indexer_devnet_kit import (  # noqa: F401 (fixtures)
    BTC,
    OTHER,
    TRADER,
    Chain,
    Inbox,
    best_ask,
    chain_fixture,
    devnet_fixture,
)
from tests.fixtures.indexer_swagger import IndexerSwagger

from dydx_devnet.indexer.fmt import dec
from dydx_router.chain import tx as chain_tx

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


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
