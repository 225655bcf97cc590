"""Node client, sequencer and height cache against the devnet over real gRPC sockets."""

import asyncio
import socket
import time
from decimal import Decimal

import pytest
from tests.fixtures.devnet import DevnetProcess
from tests.router.integration.chain.helpers import CHAIN_ID, eventually, wallet_for

from dydx_router.chain import tx
from dydx_router.chain.errors import (
    AccountNotFound,
    ChainError,
    ChainRejected,
    ChainUnavailable,
    Disposition,
    RateLimited,
    SequenceMismatch,
)
from dydx_router.chain.height import HeightCache
from dydx_router.chain.indexer import IndexerClient
from dydx_router.chain.indexer_models import IndexerOrderStatus
from dydx_router.chain.node import GrpcEndpoint, NodeClient
from dydx_router.chain.sequencer import SequenceMode, Sequencer
from dydx_router.chain.tx import ChainOrderId, OrderFlags
from dydx_router.chain.wallet import Wallet
from dydx_router.domain.ids import order_uuid
from dydx_router.domain.market import MarketSpec, Rounding, Side

pytestmark = pytest.mark.integration

BTC = MarketSpec("BTC-USD", 0, -10, -9, 1_000_000, 100_000)


def _sequencer(node: NodeClient, wallet: Wallet, **kwargs: object) -> Sequencer:
    return Sequencer(node, wallet, wallet.address, chain_id=CHAIN_ID, **kwargs)  # type: ignore[arg-type]


async def _height_cache(node: NodeClient) -> HeightCache:
    cache = HeightCache(node.latest_height)
    await cache.refresh()
    return cache


async def _resting_buy_subticks(node: NodeClient) -> int:
    """Half the oracle price: a buy that rests and never fills."""
    oracle = next(p for p in await node.market_prices() if p.market_id == 0).human
    return BTC.to_subticks(oracle / 2, Rounding.FAVOURABLE, Side.BUY)


async def _next_block(node: NodeClient) -> None:
    """The stateful rate limit is 2 orders per block per account (mainnet genesis)."""
    height = await node.latest_height()
    await eventually(node.latest_height, lambda h: h > height)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_queries_read_the_chain(node: NodeClient, funded: Wallet) -> None:
    first = await node.latest_block()
    specs = await node.market_specs()
    assert specs["BTC-USD"] == BTC  # the genesis grid, read from ClobPairAll + AllPerpetuals
    prices = {p.market_id: p for p in await node.market_prices()}
    assert prices[0].exponent == -5 and prices[0].human > 0
    account = await node.account(funded.address)
    assert account.address == funded.address and account.sequence == 0
    sub = await node.subaccount(funded.address, 0)
    assert sub.asset_positions[0].asset_id == 0
    assert sub.asset_positions[0].quantums == 100_000 * 10**6  # USDC has 6 decimals
    limits = await node.block_rate_limits()
    assert limits.stateful_orders and limits.short_term_orders_and_cancels
    later = await eventually(node.latest_block, lambda b: b.height > first.height)
    assert later.time >= first.time


async def test_unfunded_account_reads_as_account_not_found(node: NodeClient) -> None:
    stranger = wallet_for("never funded")
    with pytest.raises(AccountNotFound) as exc:
        await node.account(stranger.address)
    assert stranger.address in str(exc.value)
    assert "must be funded" in str(exc.value)
    assert exc.value.__cause__ is not None  # translated from the gRPC NOT_FOUND at the boundary
    with pytest.raises(AccountNotFound):
        await _sequencer(node, stranger).send(
            [
                tx.place_order(
                    ChainOrderId(stranger.address, 0, 1, 0, OrderFlags.SHORT_TERM),
                    side=Side.BUY,
                    quantums=1_000_000,
                    subticks=100_000,
                    good_til_block=(await node.latest_height()) + 10,
                )
            ]
        )


async def test_short_term_order_place_and_cancel(
    node: NodeClient, indexer: IndexerClient, funded: Wallet
) -> None:
    heights = await _height_cache(node)
    seq = _sequencer(node, funded)
    oid = ChainOrderId(funded.address, 0, 101, 0, OrderFlags.SHORT_TERM)
    gtb = heights.good_til_block(20)
    placed = await seq.send(
        [
            tx.place_order(
                oid,
                side=Side.BUY,
                quantums=BTC.to_quantums(Decimal("0.001")),
                subticks=await _resting_buy_subticks(node),
                good_til_block=gtb,
            )
        ]
    )
    assert len(placed.tx_hash) == 64
    uuid = order_uuid(oid.owner, 0, oid.client_id, oid.clob_pair_id, int(oid.order_flags))
    orders = await eventually(
        lambda: indexer.orders(funded.address, 0), lambda os: any(o.id == uuid for o in os)
    )
    (mine,) = [o for o in orders if o.id == uuid]
    assert mine.status is IndexerOrderStatus.BEST_EFFORT_OPENED
    assert (mine.size, mine.good_til_block) == (Decimal("0.001"), gtb)
    assert (await node.account(funded.address)).sequence == 0  # short-term: none consumed

    await heights.refresh()
    await seq.send([tx.cancel_order(oid, good_til_block=max(gtb, heights.good_til_block(20)))])
    await eventually(
        lambda: indexer.orders(funded.address, 0, status=[IndexerOrderStatus.BEST_EFFORT_OPENED]),
        lambda os: all(o.id != uuid for o in os),
    )


async def test_long_term_order_place_and_cancel(
    node: NodeClient, indexer: IndexerClient, funded: Wallet
) -> None:
    seq = _sequencer(node, funded)
    oid = ChainOrderId(funded.address, 0, 202, 0, OrderFlags.LONG_TERM)
    gtbt = int(time.time()) + 3600
    placed = await seq.send(
        [
            tx.place_order(
                oid,
                side=Side.BUY,
                quantums=BTC.to_quantums(Decimal("0.002")),
                subticks=await _resting_buy_subticks(node),
                good_til_block_time=gtbt,
            )
        ]
    )
    assert placed.sequence == 0
    committed = await eventually(
        lambda: _get_tx_or_none(node, placed.tx_hash), lambda r: r is not None
    )
    assert committed is not None and committed.code == 0 and committed.height > 0
    uuid = order_uuid(oid.owner, 0, oid.client_id, oid.clob_pair_id, int(oid.order_flags))
    opened = await eventually(lambda: _order_or_none(indexer, uuid), lambda o: o is not None)
    assert opened is not None and opened.status is IndexerOrderStatus.OPEN

    cancelled = await seq.send([tx.cancel_order(oid, good_til_block_time=gtbt)])
    assert cancelled.sequence == 1
    final = await eventually(
        lambda: indexer.order(uuid), lambda o: o.status is IndexerOrderStatus.CANCELED
    )
    assert final.total_filled == 0


async def _get_tx_or_none(node: NodeClient, tx_hash: str) -> object | None:
    try:
        return await node.get_tx(tx_hash)
    except ChainError:
        return None


async def _order_or_none(indexer: IndexerClient, uuid: object) -> object | None:
    try:
        return await indexer.order(uuid)  # type: ignore[arg-type]
    except ChainError:
        return None


async def test_stateful_order_with_a_stale_sequence_recovers(
    node: NodeClient, funded: Wallet
) -> None:
    subticks = await _resting_buy_subticks(node)
    gtbt = int(time.time()) + 3600

    def order(client_id: int) -> object:
        return tx.place_order(
            ChainOrderId(funded.address, 0, client_id, 0, OrderFlags.LONG_TERM),
            side=Side.BUY,
            quantums=1_000_000,
            subticks=subticks,
            good_til_block_time=gtbt,
        )

    ours = _sequencer(node, funded)
    other = _sequencer(node, funded)  # another writer of the same account
    assert (await ours.send([order(1)])).sequence == 0
    assert (await other.send([order(2)])).sequence == 1  # its first resync may lag; it recovers
    assert ours.cached_sequence == 1  # stale now: the account is at 2
    await _next_block(node)
    recovered = await ours.send([order(3)])
    assert recovered.sequence == 2
    assert ours.cached_sequence == 3
    await eventually(lambda: node.account(funded.address), lambda a: a.sequence == 3)

    # Sent as is, the stale tx is refused with the chain's own sdk/32.
    stale = tx.sign_tx(
        funded, [order(4)], chain_id=CHAIN_ID, account_number=ours._account_number or 0, sequence=1
    )
    with pytest.raises(SequenceMismatch) as exc:
        await node.broadcast(stale)
    assert exc.value.key == ("sdk", 32) and exc.value.expected == 3


async def test_timestamp_nonces_let_stateful_txs_go_out_concurrently(
    node: NodeClient, funded: Wallet
) -> None:
    seq = _sequencer(node, funded, mode=SequenceMode.TIMESTAMP_NONCE)
    subticks = await _resting_buy_subticks(node)
    gtbt = int(time.time()) + 3600
    results = await asyncio.gather(
        *(
            seq.send(
                [
                    tx.place_order(
                        ChainOrderId(funded.address, 0, 300 + i, 0, OrderFlags.LONG_TERM),
                        side=Side.BUY,
                        quantums=1_000_000,
                        subticks=subticks,
                        good_til_block_time=gtbt,
                    )
                ]
            )
            for i in range(2)  # the stateful rate limit is 2 per block
        )
    )
    nonces = sorted(r.sequence for r in results)
    assert nonces[0] >= 1 << 40 and nonces[0] < nonces[1]
    assert (await node.account(funded.address)).sequence == 0  # no account sequence consumed


async def test_one_node_tells_its_latest_block_and_whether_a_tx_is_in_it(
    node: NodeClient, funded: Wallet
) -> None:
    """What the reconciler judges a timestamp-nonce tx by (``gateway.sequence_consumed``): the
    block time and the lookup by hash, both from one node, block first."""
    seq = _sequencer(node, funded, mode=SequenceMode.TIMESTAMP_NONCE)
    placed = await seq.send(
        [
            tx.place_order(
                ChainOrderId(funded.address, 0, 400, 0, OrderFlags.LONG_TERM),
                side=Side.BUY,
                quantums=1_000_000,
                subticks=await _resting_buy_subticks(node),
                good_til_block_time=int(time.time()) + 3600,
            )
        ]
    )
    committed = await eventually(
        lambda: _get_tx_or_none(node, placed.tx_hash), lambda r: r is not None
    )
    block, found = await node.latest_block_and_tx(placed.tx_hash)
    assert found is not None and found.tx_hash == placed.tx_hash and found.code == 0
    assert committed is not None and found.height <= block.height
    assert abs(block.time.timestamp() - time.time()) < 10  # the devnet's block time: its clock
    later, missing = await node.latest_block_and_tx("AB" * 32)
    assert missing is None and later.height >= block.height


async def test_rejections_are_typed_by_codespace_and_code(
    node: NodeClient, funded: Wallet, devnet: DevnetProcess
) -> None:
    seq = _sequencer(node, funded)
    height = await node.latest_height()
    oid = ChainOrderId(funded.address, 0, 404, 0, OrderFlags.SHORT_TERM)

    def place(**kw: int) -> object:
        args = {"quantums": 1_000_000, "subticks": 100_000, "good_til_block": height + 10, **kw}
        return tx.place_order(oid, side=Side.BUY, **args)  # type: ignore[arg-type]

    with pytest.raises(ChainRejected) as too_far:
        await seq.send([place(good_til_block=height + 200)])
    assert too_far.value.key == ("clob", 11)
    assert too_far.value.disposition is Disposition.RETRYABLE

    with pytest.raises(ChainRejected) as off_tick:
        await seq.send([place(subticks=100_001)])
    assert off_tick.value.key == ("clob", 12)
    assert off_tick.value.disposition is Disposition.DEFINITIVE

    missing = ChainOrderId(funded.address, 0, 405, 0, OrderFlags.LONG_TERM)
    with pytest.raises(ChainRejected) as gone:
        await seq.send([tx.cancel_order(missing, good_til_block_time=int(time.time()) + 60)])
    assert gone.value.key == ("clob", 3006)
    assert gone.value.disposition is Disposition.BENIGN_FOR_CANCEL

    await devnet.set_faults(
        broadcast_error={"codespace": "clob", "code": 5001, "raw_log": "Block rate limit exceeded"}
    )
    try:
        with pytest.raises(RateLimited) as limited:
            await seq.send([place()])
        assert limited.value.retryable
    finally:
        await devnet.reset_faults()


async def test_failover_to_the_next_endpoint(devnet: DevnetProcess) -> None:
    dead = GrpcEndpoint(f"127.0.0.1:{_free_port()}")
    async with NodeClient([dead, GrpcEndpoint(devnet.grpc)], timeout=3) as client:
        assert await client.latest_height() > 0
        assert client.current_endpoint == devnet.grpc
    async with NodeClient([dead], timeout=3) as client:
        with pytest.raises(ChainUnavailable, match="no node endpoint answered"):
            await client.latest_height()


async def test_a_node_refusing_service_reads_as_unavailable(devnet: DevnetProcess) -> None:
    await devnet.set_faults(grpc_unavailable=True)
    try:
        async with NodeClient([GrpcEndpoint(devnet.grpc)], timeout=3) as client:
            with pytest.raises(ChainUnavailable) as exc:
                await client.latest_height()
        assert exc.value.retryable
    finally:
        await devnet.reset_faults()


async def test_height_cache_follows_the_node(node: NodeClient) -> None:
    cache = HeightCache(node.latest_height, poll_interval=0.05)
    task = asyncio.create_task(cache.run())
    try:
        first = await cache.wait_for_height(1, within=5)
        assert await cache.wait_for_height(first + 2, within=5) >= first + 2
        gtb = cache.good_til_block(20)
        assert gtb - cache.height == 20
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
