"""Indexer REST client and websocket stream against the devnet's indexer (real HTTP/ws sockets)."""

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from tests.fixtures.devnet import DevnetProcess
from tests.router.integration.chain.helpers import CHAIN_ID, eventually

from dydx_router.chain import tx
from dydx_router.chain.errors import IndexerNotFound
from dydx_router.chain.height import HeightCache
from dydx_router.chain.indexer import IndexerClient
from dydx_router.chain.indexer_models import (
    IndexerOrderStatus,
    Liquidity,
    PositionSide,
)
from dydx_router.chain.node import NodeClient
from dydx_router.chain.sequencer import Sequencer
from dydx_router.chain.stream import (
    BlockHeight,
    IndexerStream,
    StreamDisconnected,
    StreamEvent,
    SubaccountSnapshot,
    SubaccountUpdate,
)
from dydx_router.chain.tx import ChainOrderId, OrderFlags
from dydx_router.chain.wallet import Wallet
from dydx_router.domain.ids import order_uuid
from dydx_router.domain.market import Rounding, Side

pytestmark = pytest.mark.integration


async def test_markets_agree_between_node_and_indexer(
    node: NodeClient, indexer: IndexerClient
) -> None:
    from_node = await node.market_specs()
    from_indexer = {t: m.to_market_spec() for t, m in (await indexer.perpetual_markets()).items()}
    assert from_indexer == from_node
    btc = await indexer.perpetual_markets("BTC-USD")
    assert list(btc) == ["BTC-USD"]
    assert btc["BTC-USD"].step_size == from_node["BTC-USD"].step_size
    assert btc["BTC-USD"].tick_size == from_node["BTC-USD"].tick_size
    height = await indexer.height()
    assert 0 < height.height <= await node.latest_height()


async def test_an_ioc_buy_fills_and_shows_everywhere(
    node: NodeClient, indexer: IndexerClient, funded: Wallet
) -> None:
    spec = (await node.market_specs())["BTC-USD"]
    book = await eventually(lambda: indexer.orderbook("BTC-USD"), lambda b: bool(b.asks))
    best_ask = book.asks[0].price
    assert all(a.price <= b.price for a, b in zip(book.asks, book.asks[1:], strict=False))
    assert all(a.price >= b.price for a, b in zip(book.bids, book.bids[1:], strict=False))

    oid = ChainOrderId(funded.address, 0, 501, spec.clob_pair_id, OrderFlags.SHORT_TERM)
    size = spec.step_size * 3
    seq = Sequencer(node, funded, funded.address, chain_id=CHAIN_ID)
    await seq.send(
        [
            tx.place_order(
                oid,
                side=Side.BUY,
                quantums=spec.to_quantums(size),
                subticks=spec.to_subticks(
                    best_ask * Decimal("1.02"), Rounding.FAVOURABLE, Side.BUY
                ),
                time_in_force=tx.TimeInForce.IOC,
                good_til_block=(await node.latest_height()) + 10,
            )
        ]
    )
    uuid = order_uuid(funded.address, 0, oid.client_id, oid.clob_pair_id, 0)
    filled = await eventually(
        lambda: _order(indexer, uuid), lambda o: o is not None and o.total_filled == size
    )
    assert filled is not None and filled.status is IndexerOrderStatus.FILLED

    fills = await indexer.fills(funded.address, 0, market="BTC-USD")
    assert fills.fills and all(f.order_id == uuid for f in fills.fills)
    assert sum(f.size for f in fills.fills) == size
    assert all(f.liquidity is Liquidity.TAKER for f in fills.fills)

    positions = await indexer.perpetual_positions(funded.address, 0)
    (btc,) = [p for p in positions if p.market == "BTC-USD"]
    assert btc.side is PositionSide.LONG and btc.size == size
    sub = await indexer.subaccount(funded.address, 0)
    assert sub.open_perpetual_positions["BTC-USD"].size == size
    assets = await indexer.asset_positions(funded.address, 0)
    assert assets[0].symbol == "USDC"
    chain_sub = await node.subaccount(funded.address, 0)
    assert chain_sub.perpetual_positions[0].quantums == spec.to_quantums(size)
    pnl = await indexer.historical_pnl(funded.address, 0)
    assert isinstance(pnl.historical_pnl, list)


async def _order(indexer: IndexerClient, uuid: Any) -> Any:
    try:
        return await indexer.order(uuid)
    except IndexerNotFound:
        return None


async def test_unknown_order_is_not_found(indexer: IndexerClient, funded: Wallet) -> None:
    with pytest.raises(IndexerNotFound):
        await indexer.order(order_uuid(funded.address, 0, 999_999, 0, 64))


async def _until(events: AsyncIterator[StreamEvent], want: Any, within: float = 10.0) -> Any:
    async with asyncio.timeout(within):
        async for event in events:
            if want(event):
                return event
    raise AssertionError("stream ended")


async def test_stream_follows_a_short_term_order_to_its_cancel(
    devnet: DevnetProcess, node: NodeClient, funded: Wallet
) -> None:
    stream = IndexerStream([devnet.ws], subaccounts=[(funded.address, 0)], idle_timeout=10)
    events = stream.events()
    heights = HeightCache()
    try:
        snap = await _until(events, lambda e: isinstance(e, SubaccountSnapshot))
        assert snap.contents.subaccount.address == funded.address
        assert snap.contents.subaccount.equity > 0
        tick = await _until(events, lambda e: isinstance(e, BlockHeight) and not e.snapshot)
        heights.observe(tick.height, tick.time)

        spec = (await node.market_specs())["BTC-USD"]
        oracle = next(p for p in await node.market_prices() if p.market_id == 0).human
        oid = ChainOrderId(funded.address, 0, 601, 0, OrderFlags.SHORT_TERM)
        uuid = order_uuid(funded.address, 0, 601, 0, 0)
        seq = Sequencer(node, funded, funded.address, chain_id=CHAIN_ID)
        # The indexer's height lags the node's by a block or two; 20 blocks leaves room.
        gtb = heights.good_til_block(20)
        await seq.send(
            [
                tx.place_order(
                    oid,
                    side=Side.BUY,
                    quantums=spec.step_base_quantums,
                    subticks=spec.to_subticks(oracle / 2, Rounding.FAVOURABLE, Side.BUY),
                    good_til_block=gtb,
                )
            ]
        )
        opened = await _until(events, lambda e: _order_update(e, uuid) is not None)
        assert _order_update(opened, uuid).status is IndexerOrderStatus.BEST_EFFORT_OPENED

        await seq.send([tx.cancel_order(oid, good_til_block=gtb)])
        cancelled = await _until(
            events,
            lambda e: (
                (u := _order_update(e, uuid)) is not None
                and u.status is IndexerOrderStatus.BEST_EFFORT_CANCELED
            ),
        )
        assert isinstance(cancelled, SubaccountUpdate)
    finally:
        await stream.close()
        await events.aclose()


def _order_update(event: StreamEvent, uuid: Any) -> Any:
    if isinstance(event, SubaccountUpdate):
        for order in event.contents.orders:
            if order.id == uuid:
                return order
    return None


async def test_stream_reconnects_a_silent_indexer_and_resyncs(
    devnet: DevnetProcess, funded: Wallet
) -> None:
    stream = IndexerStream(
        [devnet.ws], subaccounts=[(funded.address, 0)], idle_timeout=1.0, backoff_initial=0.1
    )
    events = stream.events()
    try:
        await _until(events, lambda e: isinstance(e, SubaccountSnapshot))
        await devnet.set_faults(block_stall=True)  # no blocks: the stream goes silent
        gone = await _until(events, lambda e: isinstance(e, StreamDisconnected))
        assert "no message for 1 s" in gone.reason
        resynced = await _until(events, lambda e: isinstance(e, SubaccountSnapshot))
        assert resynced.contents.subaccount.address == funded.address
        await devnet.reset_faults()
        await _until(events, lambda e: isinstance(e, BlockHeight) and not e.snapshot)
    finally:
        await devnet.reset_faults()
        await stream.close()
        await events.aclose()
