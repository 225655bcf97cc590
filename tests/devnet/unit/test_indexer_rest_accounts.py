"""The indexer's REST API over its ASGI app, fed with hand-built node events: fills, positions
and subaccounts, historical PnL, the order book and the faucet (the harness: indexer_rest_kit.py,
which validates every 200 body against the real indexer's OpenAPI spec)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.devnet.unit.indexer_events import (
    ALICE,
    BOB,
    block,
    fill,
    funded,
    order,
    placed,
    removed,
    updated,
)
from tests.devnet.unit.indexer_rest_kit import BAD_CHECKSUM, Harness, uid

from dydx_devnet.events import (
    EventBatch,
    RemovalReason,
    RemovalStatus,
)
from dydx_devnet.model import PerpetualPosition, Side, TimeInForce

pytestmark = pytest.mark.asyncio(loop_scope="session")


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
