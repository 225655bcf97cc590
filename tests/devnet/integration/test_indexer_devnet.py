"""The indexer attached to a running devnet, over real sockets: REST (httpx), its faults, and its
agreement with the chain (the websocket: test_indexer_devnet_ws.py; the fixtures:
indexer_devnet_kit.py). Every 200 body is validated against the real indexer's OpenAPI spec.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from tests.devnet.integration.indexer_devnet_kit import (  # noqa: F401 (fixtures)
    BTC,
    OTHER,
    TRADER,
    Chain,
    best_ask,
    chain_fixture,
    devnet_fixture,
)

from dydx_router.chain import tx as chain_tx

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


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
