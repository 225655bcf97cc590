"""The indexer's REST API over its ASGI app, fed with hand-built node events.

Each test drives the projection the way the engine does (off-chain batches for CheckTx, on-chain
batches closed by a block) and checks what a client of the real indexer would see. Every 200
body is validated against the real indexer's OpenAPI spec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tests.devnet.unit.indexer_events import (
    ALICE,
    BOB,
    at,
    block,
    chain,
    fill,
    funded,
    order,
    placed,
    removed,
    updated,
)
from tests.fixtures.indexer_swagger import IndexerSwagger

from dydx_devnet.events import (
    EventBatch,
    OrderPlaced,
    OrderTriggered,
    PlacementStatus,
    RemovalReason,
    RemovalStatus,
)
from dydx_devnet.indexer import ids
from dydx_devnet.indexer.projection import Projection
from dydx_devnet.indexer.rest import IndexerApi
from dydx_devnet.model import ConditionType, OrderFlags, PerpetualPosition, Side, TimeInForce

pytestmark = pytest.mark.asyncio(loop_scope="session")

GTBT = 1_795_000_000  # a good-til-block-time in 2026
BAD_CHECKSUM = ALICE.owner[:-1] + ("q" if ALICE.owner[-1] != "q" else "p")


class Harness:
    def __init__(self, swagger: IndexerSwagger) -> None:
        self.projection = Projection(chain())
        self.funded: list[tuple[str, int, Decimal]] = []
        self.api = IndexerApi(self.projection, None, self._fund)
        self.swagger = swagger
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.api.app()), base_url="http://indexer"
        )

    def _fund(self, address: str, number: int, usdc: Decimal) -> None:
        if address == BAD_CHECKSUM:
            raise ValueError(f"invalid address {address!r}: bad checksum")
        self.funded.append((address, number, usdc))

    def apply(self, *batches: EventBatch) -> list[Any]:
        out = []
        for b in batches:
            out.extend(self.projection.apply(b))
        return out

    async def get(self, path: str, spec_path: str | None = None, **params: Any) -> Any:
        """GET /v4{path}; a 200 body is validated against the spec's `spec_path` (default:
        `path` itself)."""
        r = await self.client.get(f"/v4{path}", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        self.swagger.validate_response(spec_path or path, body)
        return body

    async def error(self, path: str, code: int, **params: Any) -> list[dict[str, Any]]:
        r = await self.client.get(f"/v4{path}", params=params)
        assert r.status_code == code, r.text
        errors: list[dict[str, Any]] = r.json()["errors"]
        assert errors and all("msg" in e for e in errors)
        return errors

    async def orders(self, sub: Any = ALICE, **params: Any) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = await self.get(
            "/orders", address=sub.owner, subaccountNumber=sub.number, **params
        )
        return body


@pytest.fixture
async def h(indexer_swagger: IndexerSwagger) -> AsyncIterator[Harness]:
    harness = Harness(indexer_swagger)
    yield harness
    await harness.client.aclose()


def uid(o: Any) -> str:
    oid = o.order_id
    s = oid.subaccount_id
    return ids.order_uuid(s.owner, s.number, oid.client_id, oid.clob_pair_id, oid.order_flags)


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


# ---- fills, positions, subaccounts -------------------------------------------------------------
async def test_fill_updates_fills_positions_and_the_wrapped_subaccount(h: Harness) -> None:
    maker = order(ALICE, 1, Side.SELL, 5_000_000, 6_000_000_000, gtb=20)  # 0.0005 @ 60000
    taker = order(BOB, 2, Side.BUY, 3_000_000, 6_000_000_000, gtb=20, tif=TimeInForce.IOC)
    h.apply(block(1, *funded(ALICE, 1_000_000_000, 1), *funded(BOB, 1_000_000_000, 1)))
    h.apply(placed(maker, 1))
    quote = 3_000_000 * 6_000_000_000 // 10**9  # 18 USDC
    h.apply(
        block(
            2,
            fill(maker, taker, 3_000_000, 2, maker_filled=3_000_000, taker_filled=3_000_000),
            *funded(ALICE, 1_000_000_000 + quote + 1980, 2, PerpetualPosition(0, -3_000_000))[1:],
            *funded(BOB, 1_000_000_000 - quote - 9000, 2, PerpetualPosition(0, 3_000_000))[1:],
        )
    )
    fills = (await h.get("/fills", address=ALICE.owner, subaccountNumber=0))["fills"]
    assert len(fills) == 1
    f = fills[0]
    assert (f["side"], f["liquidity"], f["price"], f["size"]) == (
        "SELL",
        "MAKER",
        "60000",
        "0.0003",
    )
    assert f["fee"] == "-0.00198" and f["orderId"] == uid(maker) and f["market"] == "BTC-USD"
    bob_fill = (await h.get("/fills", address=BOB.owner, subaccountNumber=0))["fills"][0]
    assert (bob_fill["liquidity"], bob_fill["fee"]) == ("TAKER", "0.009")
    assert bob_fill["id"] != f["id"]

    positions = (await h.get("/perpetualPositions", address=ALICE.owner, subaccountNumber=0))[
        "positions"
    ]
    assert len(positions) == 1
    pos = positions[0]
    # The size of a SHORT position is negative (comlink request-transformer.ts
    # perpetualPositionToResponseObject).
    assert (pos["side"], pos["size"], pos["entryPrice"], pos["status"]) == (
        "SHORT", "-0.0003", "60000", "OPEN",
    )  # fmt: skip
    assert pos["realizedPnl"] == "0.00198"  # the maker rebate

    body = await h.get(
        f"/addresses/{ALICE.owner}/subaccountNumber/0",
        "/addresses/{address}/subaccountNumber/{subaccountNumber}",
    )
    sub = body["subaccount"]
    oracle = Decimal("28688.19524")
    usdc = Decimal(1_000_000_000 + quote + 1980) / 10**6
    equity = usdc - Decimal("0.0003") * oracle
    assert Decimal(sub["equity"]) == equity
    assert Decimal(sub["freeCollateral"]) == equity - Decimal("0.0003") * oracle * Decimal("0.05")
    assert list(sub["openPerpetualPositions"]) == ["BTC-USD"]
    assert sub["assetPositions"]["USDC"]["size"] == str(usdc.normalize())
    assert sub["latestProcessedBlockHeight"] == "2"

    assets = await h.get("/assetPositions", address=ALICE.owner, subaccountNumber=0)
    assert assets["positions"][0]["symbol"] == "USDC"
    address = await h.get(f"/addresses/{ALICE.owner}", "/addresses/{address}")
    assert [s["subaccountNumber"] for s in address["subaccounts"]] == [0]

    # Closing the position records the exit and realizes the PnL.
    close_maker = order(BOB, 3, Side.SELL, 3_000_000, 5_000_000_000, gtb=30)
    close_taker = order(ALICE, 4, Side.BUY, 3_000_000, 5_000_000_000, gtb=30, tif=TimeInForce.IOC)
    h.apply(placed(close_maker, 3))
    h.apply(
        block(
            4,
            fill(
                close_maker, close_taker, 3_000_000, 4, maker_filled=3_000_000,
                taker_filled=3_000_000, maker_pos_before=3_000_000,
                taker_pos_before=-3_000_000,
            ),
        )
    )  # fmt: skip
    positions = (await h.get("/perpetualPositions", address=ALICE.owner, subaccountNumber=0))[
        "positions"
    ]
    closed = positions[0]
    assert (closed["status"], closed["size"], closed["exitPrice"]) == ("CLOSED", "0", "50000")
    # (60000 - 50000) * 0.0003 = 3 USDC gained, + maker rebate, - taker fee (15 * 0.0005).
    assert Decimal(closed["realizedPnl"]) == Decimal("3") + Decimal("0.00198") - Decimal("0.0075")
    assert closed["closedAt"] == "2026-11-24T12:00:04.000Z"
    open_only = await h.get(
        "/perpetualPositions", address=ALICE.owner, subaccountNumber=0, status="OPEN"
    )
    assert open_only["positions"] == []


async def test_historical_pnl_ticks_per_block_with_changes(h: Harness) -> None:
    h.apply(block(1, *funded(ALICE, 2_000_000_000, 1)), block(2))
    body = await h.get("/historical-pnl", address=ALICE.owner, subaccountNumber=0)
    ticks = body["historicalPnl"]
    assert len(ticks) == 1
    assert (ticks[0]["equity"], ticks[0]["netTransfers"], ticks[0]["totalPnl"]) == (
        "2000", "2000", "0",
    )  # fmt: skip
    await h.error("/historical-pnl", 404, address=BOB.owner, subaccountNumber=0)


async def test_unknown_subaccount_and_bad_parameters(h: Harness) -> None:
    errors = await h.error(f"/addresses/{BOB.owner}/subaccountNumber/0", 404)
    assert errors == [
        {"msg": f"No subaccount found with address {BOB.owner} and subaccountNumber 0"}
    ]
    errors = await h.error(f"/addresses/{BOB.owner}/subaccountNumber/128001", 400)
    assert errors[0]["msg"] == "subaccountNumber must be a non-negative integer less than 128001"
    errors = await h.error("/orders", 400, address="not-an-address!", subaccountNumber=0)
    assert errors[0]["msg"] == "address must be a valid dydx address"
    errors = await h.error("/orders/123", 400)
    assert errors[0]["path"] == "orderId"
    errors = await h.error("/orders", 400, address=ALICE.owner, subaccountNumber=0, limit=1001)
    assert errors[0]["path"] == "limit"
    await h.error("/orderbooks/perpetualMarket/NOPE-USD", 404)
    assert (await h.get("/fills", address=BOB.owner, subaccountNumber=0)) == {"fills": []}


# ---- order book --------------------------------------------------------------------------------
async def test_orderbook_levels_are_aggregated_sorted_and_follow_fills(h: Harness) -> None:
    bids = [
        order(ALICE, 1, Side.BUY, 1_000_000, 5_000_000_000, gtb=20),
        order(BOB, 2, Side.BUY, 2_000_000, 5_000_000_000, gtb=20),
        order(ALICE, 3, Side.BUY, 1_000_000, 5_100_000_000, gtb=20),
    ]
    ask = order(BOB, 4, Side.SELL, 4_000_000, 6_000_000_000, gtb=20)
    msgs = h.apply(*(placed(o, 1) for o in [*bids, ask]))
    book = await h.get(
        "/orderbooks/perpetualMarket/BTC-USD", "/orderbooks/perpetualMarket/{ticker}"
    )
    assert book == {
        "bids": [{"price": "51000", "size": "0.0001"}, {"price": "50000", "size": "0.0003"}],
        "asks": [{"price": "60000", "size": "0.0004"}],
    }
    updates = [m.contents for m in msgs if m.channel == "v4_orderbook"]
    assert updates[0] == {"bids": [["50000", "0.0001"]]}

    # The best bid is filled away: the level goes to "0" on the websocket and leaves REST.
    taker = order(BOB, 5, Side.SELL, 1_000_000, 5_100_000_000, gtb=20, tif=TimeInForce.IOC)
    msgs = h.apply(
        EventBatch((updated(bids[2], 1_000_000, 1),)),
        block(
            2, fill(bids[2], taker, 1_000_000, 2, maker_filled=1_000_000, taker_filled=1_000_000)
        ),
        removed(bids[2], 2, RemovalReason.FULLY_FILLED, RemovalStatus.FILLED),
    )
    assert {"bids": [["51000", "0"]]} in [m.contents for m in msgs if m.channel == "v4_orderbook"]
    book = await h.get(
        "/orderbooks/perpetualMarket/BTC-USD", "/orderbooks/perpetualMarket/{ticker}"
    )
    assert book["bids"] == [{"price": "50000", "size": "0.0003"}]


# ---- faucet ------------------------------------------------------------------------------------
async def test_faucet_takes_the_testnet_body_and_credits_exact_usdc(h: Harness) -> None:
    r = await h.client.post(
        "/faucet/tokens",
        content=b'{"address": "%s", "subaccountNumber": 0, "amount": 2000.5}'
        % ALICE.owner.encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 202, r.text
    assert h.funded == [(ALICE.owner, 0, Decimal("2000.5"))]
    for bad in (
        {"address": ALICE.owner, "subaccountNumber": 0, "amount": 0.0000001},
        {"address": ALICE.owner, "subaccountNumber": 0, "amount": -5},
        {"address": ALICE.owner, "subaccountNumber": 0, "amount": "100"},
        {"address": "cosmos1xyz", "subaccountNumber": 0, "amount": 100},
        {"address": ALICE.owner, "subaccountNumber": 128001, "amount": 100},
    ):
        r = await h.client.post("/faucet/tokens", json=bad)
        assert r.status_code == 400, bad
        assert r.json()["errors"][0]["msg"]
    r = await h.client.post(
        "/faucet/tokens", json={"address": BAD_CHECKSUM, "subaccountNumber": 0, "amount": 1}
    )
    assert r.status_code == 400 and "checksum" in r.json()["errors"][0]["msg"]
    assert len(h.funded) == 1
