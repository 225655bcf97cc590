"""The indexer's REST API over its ASGI app, fed with hand-built node events: height, time and
markets, order statuses and order listing. Fills, positions, subaccounts, the order book and the
faucet: test_indexer_rest_accounts.py.

Each test drives the projection the way the engine does (off-chain batches for CheckTx, on-chain
batches closed by a block) and checks what a client of the real indexer would see. Every 200
body is validated against the real indexer's OpenAPI spec (the harness: indexer_rest_kit.py).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.devnet.unit.indexer_events import (
    ALICE,
    BOB,
    at,
    block,
    fill,
    funded,
    order,
    placed,
    removed,
    updated,
)
from tests.devnet.unit.indexer_rest_kit import GTBT, Harness, uid

from dydx_devnet.events import (
    OrderPlaced,
    OrderTriggered,
    PlacementStatus,
    RemovalReason,
    RemovalStatus,
)
from dydx_devnet.model import ConditionType, OrderFlags, Side, TimeInForce

pytestmark = pytest.mark.asyncio(loop_scope="session")


# ---- height, time, markets -------------------------------------------------------------------
async def test_height_is_404_until_the_first_block_then_follows_blocks(h: Harness) -> None:
    errors = await h.error("/height", 404)
    assert errors == [{"msg": "No blocks found"}]
    h.apply(block(1), block(2))
    body = await h.get("/height")
    assert body == {"height": "2", "time": "2026-11-24T12:00:02.000Z"}


async def test_time_has_iso_and_epoch_seconds(h: Harness) -> None:
    body = await h.get("/time")
    assert body["iso"].endswith("Z") and isinstance(body["epoch"], float)


async def test_perpetual_markets_carry_the_chain_parameters(h: Harness) -> None:
    body = await h.get("/perpetualMarkets")
    markets = body["markets"]
    assert list(markets) == ["BTC-USD", "ETH-USD", "LINK-USD", "SOL-USD", "AVAX-USD", "DOGE-USD"]
    btc = markets["BTC-USD"]
    # dydx-mainnet-1 genesis: BTC step 0.0001, tick 1; integer fields stay JSON numbers (comlink
    # public/swagger.json PerpetualMarketResponseObject).
    assert (btc["stepSize"], btc["tickSize"]) == ("0.0001", "1")
    assert (btc["atomicResolution"], btc["quantumConversionExponent"]) == (-10, -9)
    assert (btc["stepBaseQuantums"], btc["subticksPerTick"]) == (1_000_000, 100_000)
    assert btc["clobPairId"] == "0" and btc["status"] == "ACTIVE"
    assert btc["oraclePrice"] == "28688.19524"  # genesis price 2868819524 x 10^-5
    assert btc["initialMarginFraction"] == "0.05"
    assert markets["DOGE-USD"]["tickSize"] == "0.00001"


async def test_markets_filtered_by_ticker_keep_the_dict_shape(h: Harness) -> None:
    body = await h.get("/perpetualMarkets", ticker="ETH-USD")
    assert list(body["markets"]) == ["ETH-USD"]
    errors = await h.error("/perpetualMarkets", 400, ticker="NOPE-USD")
    assert errors[0]["msg"] == "ticker must be a valid ticker (BTC-USD, etc)"
    assert errors[0]["path"] == "ticker" and errors[0]["location"] == "query"


# ---- short-term order statuses (vulcan order-remove-handler.ts) --------------------------------
async def test_unfilled_short_term_order_is_best_effort_opened_then_gone_after_cancel(
    h: Harness,
) -> None:
    h.apply(block(1, *funded(ALICE, 10_000_000_000, 1)))
    o = order(ALICE, 7, Side.BUY, 3_000_000, 5_000_000_000, gtb=10)
    h.apply(placed(o, 1))

    body = await h.get(f"/orders/{uid(o)}", "/orders/{orderId}")
    assert body["status"] == "BEST_EFFORT_OPENED"
    assert (body["size"], body["price"], body["totalFilled"]) == ("0.0003", "50000", "0")
    assert (body["goodTilBlock"], body["timeInForce"], body["type"]) == ("10", "GTT", "LIMIT")
    assert [x["id"] for x in await h.orders()] == [uid(o)]

    h.apply(removed(o, 1, RemovalReason.USER_CANCELED, RemovalStatus.BEST_EFFORT_CANCELED))
    errors = await h.error(f"/orders/{uid(o)}", 404)
    assert errors == [{"msg": f"Unable to find order id {uid(o)}"}]
    assert await h.orders() == []


async def test_unfilled_short_term_order_disappears_after_expiry(h: Harness) -> None:
    o = order(ALICE, 8, Side.SELL, 1_000_000, 6_000_000_000, gtb=3)
    h.apply(block(1), placed(o, 1))
    assert (await h.get(f"/orders/{uid(o)}", "/orders/{orderId}"))["status"] == (
        "BEST_EFFORT_OPENED"
    )
    h.apply(block(4, *removed(o, 4, RemovalReason.EXPIRED, RemovalStatus.CANCELED).events))
    await h.error(f"/orders/{uid(o)}", 404)


async def test_partly_filled_short_term_order_stays_and_reports_best_effort_canceled(
    h: Harness,
) -> None:
    maker = order(ALICE, 1, Side.SELL, 5_000_000, 6_000_000_000, gtb=20)
    taker = order(BOB, 2, Side.BUY, 2_000_000, 6_000_000_000, gtb=20, tif=TimeInForce.IOC)
    h.apply(block(1, *funded(ALICE, 10**10, 1), *funded(BOB, 10**10, 1)), placed(maker, 1))
    h.apply(
        block(
            2,
            fill(maker, taker, 2_000_000, 2, maker_filled=2_000_000, taker_filled=2_000_000),
            updated(maker, 2_000_000, 2),
        )
    )
    body = await h.get(f"/orders/{uid(maker)}", "/orders/{orderId}")
    assert (body["status"], body["totalFilled"]) == ("OPEN", "0.0002")
    # The taker (IOC, fully filled) is FILLED; a partly filled IOC would be CANCELED.
    taker_body = await h.get(f"/orders/{uid(taker)}", "/orders/{orderId}")
    assert taker_body["status"] == "FILLED"

    h.apply(removed(maker, 2, RemovalReason.USER_CANCELED, RemovalStatus.BEST_EFFORT_CANCELED))
    body = await h.get(f"/orders/{uid(maker)}", "/orders/{orderId}")
    assert (body["status"], body["totalFilled"]) == ("BEST_EFFORT_CANCELED", "0.0002")
    # The real indexer never finalizes it: the node no longer holds the order, so no expiry
    # removal reaches Vulcan, and Roundtable's stale-order task only cancels OPEN rows.
    h.apply(block(21, *removed(maker, 21, RemovalReason.EXPIRED, RemovalStatus.CANCELED).events))
    body = await h.get(f"/orders/{uid(maker)}", "/orders/{orderId}")
    assert body["status"] == "BEST_EFFORT_CANCELED"


async def test_open_partly_filled_short_term_order_is_canceled_once_past_its_block(
    h: Harness,
) -> None:
    maker = order(ALICE, 1, Side.SELL, 5_000_000, 6_000_000_000, gtb=5)
    taker = order(BOB, 2, Side.BUY, 1_000_000, 6_000_000_000, gtb=5, tif=TimeInForce.IOC)
    h.apply(placed(maker, 1))
    h.apply(
        block(2, fill(maker, taker, 1_000_000, 2, maker_filled=1_000_000, taker_filled=1_000_000))
    )
    assert (await h.get(f"/orders/{uid(maker)}", "/orders/{orderId}"))["status"] == "OPEN"
    h.apply(block(5))
    assert (await h.get(f"/orders/{uid(maker)}", "/orders/{orderId}"))["status"] == "OPEN"
    # Roundtable's `cancel-stale-orders` (the node's EXPIRED removal may also do it).
    h.apply(block(6))
    assert (await h.get(f"/orders/{uid(maker)}", "/orders/{orderId}"))["status"] == "CANCELED"


async def test_partly_filled_ioc_taker_is_canceled(h: Harness) -> None:
    maker = order(ALICE, 1, Side.SELL, 1_000_000, 6_000_000_000, gtb=20)
    taker = order(BOB, 2, Side.BUY, 3_000_000, 6_100_000_000, gtb=20, tif=TimeInForce.IOC)
    h.apply(placed(maker, 1))
    h.apply(
        block(2, fill(maker, taker, 1_000_000, 2, maker_filled=1_000_000, taker_filled=1_000_000))
    )
    body = await h.get(f"/orders/{uid(taker)}", "/orders/{orderId}")
    assert (body["status"], body["timeInForce"], body["totalFilled"]) == (
        "CANCELED", "IOC", "0.0001",
    )  # fmt: skip


async def test_long_term_order_is_open_from_its_block_and_canceled_on_chain(h: Harness) -> None:
    o = order(
        ALICE, 9, Side.BUY, 1_000_000, 4_000_000_000, gtbt=GTBT, flags=OrderFlags.LONG_TERM,
        tif=TimeInForce.POST_ONLY,
    )  # fmt: skip
    h.apply(block(3, *placed(o, 3, PlacementStatus.OPENED).events))
    body = await h.get(f"/orders/{uid(o)}", "/orders/{orderId}")
    assert (body["status"], body["orderFlags"], body["createdAtHeight"]) == ("OPEN", "64", "3")
    # POST_ONLY is reported as GTT with postOnly (v4-chain
    # indexer/packages/postgres/src/lib/api-translations.ts).
    assert (body["timeInForce"], body["postOnly"]) == ("GTT", True)
    assert body["goodTilBlockTime"] == "2026-11-18T11:06:40.000Z" and "goodTilBlock" not in body
    h.apply(block(4, *removed(o, 4, RemovalReason.USER_CANCELED, RemovalStatus.CANCELED).events))
    body = await h.get(f"/orders/{uid(o)}", "/orders/{orderId}")
    assert body["status"] == "CANCELED"


async def test_conditional_order_is_untriggered_then_open_once_triggered(h: Harness) -> None:
    base = order(
        ALICE, 5, Side.SELL, 1_000_000, 2_000_000_000, gtbt=GTBT, flags=OrderFlags.CONDITIONAL
    )
    stop = replace(
        base,
        condition_type=ConditionType.STOP_LOSS,
        conditional_order_trigger_subticks=2_500_000_000,
    )
    h.apply(block(3, OrderPlaced(stop, PlacementStatus.OPENED, 3, at(3), "", untriggered=True)))
    body = await h.get(f"/orders/{uid(stop)}", "/orders/{orderId}")
    assert (body["status"], body["type"], body["triggerPrice"]) == (
        "UNTRIGGERED", "STOP_LIMIT", "25000",
    )  # fmt: skip
    book = await h.get(
        "/orderbooks/perpetualMarket/BTC-USD", "/orderbooks/perpetualMarket/{ticker}"
    )
    assert book["asks"] == []  # an untriggered order rests on no book
    h.apply(block(4, OrderTriggered(stop, 4, at(4))))
    assert (await h.get(f"/orders/{uid(stop)}", "/orders/{orderId}"))["status"] == "OPEN"
    book = await h.get(
        "/orderbooks/perpetualMarket/BTC-USD", "/orderbooks/perpetualMarket/{ticker}"
    )
    assert book["asks"] == [{"price": "20000", "size": "0.0001"}]


# ---- order listing -----------------------------------------------------------------------------
async def test_orders_list_filters_sorts_and_limits(h: Harness) -> None:
    a = order(ALICE, 1, Side.BUY, 1_000_000, 5_000_000_000, gtb=12)
    b = order(ALICE, 2, Side.SELL, 1_000_000, 7_000_000_000, gtb=15)
    c = order(ALICE, 3, Side.BUY, 1_000_000_000, 2_000_000_000, gtb=11, clob=1)  # ETH
    d = order(ALICE, 4, Side.BUY, 1_000_000, 4_000_000_000, gtbt=GTBT, flags=OrderFlags.LONG_TERM)
    h.apply(block(2, *placed(d, 2, PlacementStatus.OPENED).events), placed(a, 2), placed(b, 2))
    h.apply(placed(c, 2))

    ids_ = [x["id"] for x in await h.orders()]
    # Descending (the default): goodTilBlockTime orders first, then goodTilBlock, latest first.
    assert ids_ == [uid(d), uid(b), uid(a), uid(c)]
    asc = [x["id"] for x in await h.orders(returnLatestOrders="false")]
    assert asc == list(reversed(ids_))
    assert [x["id"] for x in await h.orders(ticker="ETH-USD")] == [uid(c)]
    assert [x["id"] for x in await h.orders(side="SELL")] == [uid(b)]
    assert [x["id"] for x in await h.orders(limit=2)] == ids_[:2]
    assert [x["id"] for x in await h.orders(goodTilBlockBeforeOrAt=12)] == [uid(a), uid(c)]
    assert [x["id"] for x in await h.orders(status="OPEN")] == [uid(d)]
    both = await h.orders(status="OPEN,BEST_EFFORT_OPENED")
    assert len(both) == 4
    repeated = await h.client.get(
        "/v4/orders",
        params=[("address", ALICE.owner), ("subaccountNumber", "0"), ("status", "OPEN"),
                ("status", "BEST_EFFORT_OPENED")],
    )  # fmt: skip
    assert len(repeated.json()) == 4
    errors = await h.error("/orders", 400, address=ALICE.owner, subaccountNumber=0, status="NOPE")
    assert errors[0]["path"] == "status"
    assert await h.orders(BOB) == []
