"""Builders of node events for the indexer's unit tests (the events the engine publishes)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from dydx_devnet.events import (
    BlockCommitted,
    EventBatch,
    Fill,
    FillSide,
    OrderPlaced,
    OrderRemoved,
    OrderUpdated,
    PlacementStatus,
    RemovalReason,
    RemovalStatus,
    SubaccountUpdated,
    Transfer,
    TransferKind,
)
from dydx_devnet.genesis import default_genesis
from dydx_devnet.model import (
    Liquidity,
    Order,
    OrderFlags,
    OrderId,
    PerpetualPosition,
    Side,
    Subaccount,
    SubaccountId,
    TimeInForce,
)
from dydx_devnet.state import ChainState

ALICE = SubaccountId("dydx199tqg4wdlnu4qjlxchpd7seg454937hjrknju4", 0)
BOB = SubaccountId("dydx10fx7sy6ywd5senxae9dwytf8jxek3t2gcen2vs", 0)
T0 = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
BTC = 0  # clob pair id (BTC-USD: aR -10, qce -9, step 1e6, tick 1e5 subticks)


def chain() -> ChainState:
    return ChainState(default_genesis(), genesis_time_ms=int(time.time() * 1000))


def at(height: int) -> datetime:
    return T0 + timedelta(seconds=height)


def order(
    sub: SubaccountId,
    client_id: int,
    side: Side,
    quantums: int,
    subticks: int,
    *,
    gtb: int = 0,
    gtbt: int = 0,
    flags: int = OrderFlags.SHORT_TERM,
    tif: TimeInForce = TimeInForce.UNSPECIFIED,
    clob: int = BTC,
) -> Order:
    return Order(
        OrderId(sub, client_id, flags, clob),
        side,
        quantums,
        subticks,
        good_til_block=gtb,
        good_til_block_time=gtbt,
        time_in_force=tif,
        client_metadata=2,
    )


def placed(
    o: Order, height: int, status: PlacementStatus = PlacementStatus.BEST_EFFORT_OPENED
) -> EventBatch:
    ev = OrderPlaced(o, status, height, at(height), "AB" * 32)
    return EventBatch((ev,))


def removed(o: Order, height: int, reason: RemovalReason, status: RemovalStatus) -> EventBatch:
    return EventBatch((OrderRemoved(o.order_id, reason, status, height, at(height)),))


def block(height: int, *events: object) -> EventBatch:
    b = BlockCommitted(height, at(height))
    return EventBatch((*events, b), b)  # type: ignore[arg-type]


def funded(
    sub: SubaccountId, usdc_quantums: int, height: int, *positions: PerpetualPosition
) -> list[object]:
    return [
        Transfer(TransferKind.DEPOSIT, None, sub, 0, usdc_quantums, height, at(height), ""),
        SubaccountUpdated(Subaccount(sub, usdc_quantums, positions), height, at(height)),
    ]


def fill(
    maker: Order,
    taker: Order,
    quantums: int,
    height: int,
    *,
    maker_filled: int,
    taker_filled: int,
    maker_pos_before: int = 0,
    taker_pos_before: int = 0,
) -> Fill:
    quote = quantums * maker.subticks // 10**9  # qce = -9
    return Fill(
        clob_pair_id=maker.order_id.clob_pair_id,
        perpetual_id=maker.order_id.clob_pair_id,
        maker=FillSide(
            maker.order_id.subaccount_id, maker, maker.side, Liquidity.MAKER,
            -(quote * 110 // 1_000_000), -110, maker_filled, maker_pos_before,
        ),
        taker=FillSide(
            taker.order_id.subaccount_id, taker, taker.side, Liquidity.TAKER,
            quote * 500 // 1_000_000, 500, taker_filled, taker_pos_before,
        ),
        quantums=quantums,
        subticks=maker.subticks,
        quote_quantums=quote,
        height=height,
        time=at(height),
        tx_hash="CD" * 32,
        fill_id=1,
    )  # fmt: skip


def updated(o: Order, total: int, height: int) -> OrderUpdated:
    return OrderUpdated(o.order_id, total, height, at(height))
