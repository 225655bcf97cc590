"""The devnet node over real gRPC sockets (a subprocess started by the ``devnet`` fixtures)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from tests.devnet.unit.txkit import (
    BUY,
    IOC,
    LONG_TERM,
    SELL,
    order,
    order_id,
    sign,
    wallet,
)
from tests.fixtures.devnet import DevnetProcess
from v4_proto.cosmos.auth.v1beta1 import auth_pb2
from v4_proto.cosmos.auth.v1beta1 import query_pb2 as auth_query
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_grpc
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc
from v4_proto.cosmos.tx.v1beta1 import service_pb2 as tx_service
from v4_proto.cosmos.tx.v1beta1 import service_pb2_grpc as tx_grpc
from v4_proto.cosmos.tx.v1beta1.tx_pb2 import TxRaw
from v4_proto.dydxprotocol.clob import query_pb2 as clob_query
from v4_proto.dydxprotocol.clob import query_pb2_grpc as clob_grpc
from v4_proto.dydxprotocol.perpetuals import query_pb2 as perp_query
from v4_proto.dydxprotocol.perpetuals import query_pb2_grpc as perp_grpc
from v4_proto.dydxprotocol.prices import query_pb2 as prices_query
from v4_proto.dydxprotocol.prices import query_pb2_grpc as prices_grpc
from v4_proto.dydxprotocol.subaccounts import query_pb2 as sa_query
from v4_proto.dydxprotocol.subaccounts import query_pb2_grpc as sa_grpc

pytestmark = pytest.mark.integration
TIMEOUT = 10.0


@pytest.fixture
async def channel(devnet: DevnetProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(devnet.grpc) as ch:
        yield ch


@pytest.fixture
async def manual_channel(devnet_manual: DevnetProcess) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(devnet_manual.grpc) as ch:
        yield ch


def _from_serializable_int(b: bytes) -> int:
    mag = int.from_bytes(b[1:], "big")
    return -mag if b[0] == 3 else mag


async def _height(ch: grpc.aio.Channel) -> int:
    resp = await tm_grpc.ServiceStub(ch).GetLatestBlock(
        tm_query.GetLatestBlockRequest(), timeout=TIMEOUT
    )
    return int(resp.block.header.height)


async def _account(ch: grpc.aio.Channel, address: str) -> Any:
    resp = await auth_grpc.QueryStub(ch).Account(
        auth_query.QueryAccountRequest(address=address), timeout=TIMEOUT
    )
    acc = auth_pb2.BaseAccount()
    assert resp.account.Unpack(acc)
    return acc


async def _broadcast(ch: grpc.aio.Channel, tx: bytes) -> Any:
    resp = await tx_grpc.ServiceStub(ch).BroadcastTx(
        tx_service.BroadcastTxRequest(tx_bytes=tx, mode=tx_service.BROADCAST_MODE_SYNC),
        timeout=TIMEOUT,
    )
    return resp.tx_response


async def test_unknown_account_is_not_found(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _account(channel, wallet(424242).address)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_funded_account_is_a_base_account(
    devnet: DevnetProcess, channel: grpc.aio.Channel
) -> None:
    w = wallet(1001)
    await devnet.fund(w.address, "500")
    resp = await auth_grpc.QueryStub(channel).Account(
        auth_query.QueryAccountRequest(address=w.address), timeout=TIMEOUT
    )
    assert resp.account.type_url == "/cosmos.auth.v1beta1.BaseAccount"
    acc = await _account(channel, w.address)
    assert (acc.address, acc.sequence) == (w.address, 0)


async def test_blocks_advance_and_node_info(channel: grpc.aio.Channel) -> None:
    h1 = await _height(channel)
    for _ in range(100):  # blocks every 0.2 s
        if await _height(channel) > h1:
            break
        await asyncio.sleep(0.05)
    assert await _height(channel) > h1
    info = await tm_grpc.ServiceStub(channel).GetNodeInfo(
        tm_query.GetNodeInfoRequest(), timeout=TIMEOUT
    )
    assert info.default_node_info.network == "localdydxprotocol"
    block = await tm_grpc.ServiceStub(channel).GetLatestBlock(
        tm_query.GetLatestBlockRequest(), timeout=TIMEOUT
    )
    assert block.block.header.chain_id == "localdydxprotocol"
    assert block.sdk_block.header.height == block.block.header.height


async def test_market_parameters_are_mainnet_genesis(channel: grpc.aio.Channel) -> None:
    pairs = await clob_grpc.QueryStub(channel).ClobPairAll(
        clob_query.QueryAllClobPairRequest(), timeout=TIMEOUT
    )
    by_id = {p.id: p for p in pairs.clob_pair}
    assert {0, 1, 2, 5, 10} <= set(by_id)
    btc = by_id[0]
    assert (btc.step_base_quantums, btc.subticks_per_tick, btc.quantum_conversion_exponent) == (
        1_000_000,
        100_000,
        -9,
    )
    assert btc.status == 1  # ACTIVE
    perps = await perp_grpc.QueryStub(channel).AllPerpetuals(
        perp_query.QueryAllPerpetualsRequest(), timeout=TIMEOUT
    )
    tickers = {p.params.ticker: p.params.atomic_resolution for p in perps.perpetual}
    assert tickers["BTC-USD"] == -10 and tickers["DOGE-USD"] == -4
    prices = await prices_grpc.QueryStub(channel).AllMarketPrices(
        prices_query.QueryAllMarketPricesRequest(), timeout=TIMEOUT
    )
    assert {p.id: p.exponent for p in prices.market_prices}[0] == -5
    limits = await clob_grpc.QueryStub(channel).BlockRateLimitConfiguration(
        clob_query.QueryBlockRateLimitConfigurationRequest(), timeout=TIMEOUT
    )
    [st] = limits.block_rate_limit_config.max_short_term_orders_and_cancels_per_n_blocks
    assert (st.num_blocks, st.limit) == (5, 2000)


async def test_broadcast_short_term_order_then_resend_and_tamper(
    devnet: DevnetProcess, channel: grpc.aio.Channel
) -> None:
    w = wallet(1002)
    await devnet.fund(w.address, "1000")
    acc = await _account(channel, w.address)
    h = await _height(channel)
    tx = sign(
        w,
        [order(order_id(w, 1), subticks=100_000_000, gtb=h + 20)],
        account_number=acc.account_number,
    )
    r = await _broadcast(channel, tx)
    assert (r.codespace, r.code, r.raw_log) == ("", 0, "")
    assert r.txhash == hashlib.sha256(tx).hexdigest().upper()
    again = await _broadcast(channel, tx)
    assert (again.codespace, again.code) == ("sdk", 19)
    raw = TxRaw.FromString(tx)
    sig = bytearray(raw.signatures[0])
    sig[0] ^= 0x01
    raw.signatures[0] = bytes(sig)
    bad = await _broadcast(channel, raw.SerializeToString())
    assert (bad.codespace, bad.code) == ("sdk", 4)
    assert bad.raw_log.startswith(
        f"signature verification failed; please verify account number ({acc.account_number}) "
        "and chain-id (localdydxprotocol)"
    )
    # a short-term tx is never in a block
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await tx_grpc.ServiceStub(channel).GetTx(
            tx_service.GetTxRequest(hash=r.txhash), timeout=TIMEOUT
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    accepted = await devnet.accepted_orders(w.address)
    assert [(o["clientId"], o["txHash"]) for o in accepted] == [(1, r.txhash)]


async def test_stateful_order_sequence_and_get_tx(
    devnet_manual: DevnetProcess, manual_channel: grpc.aio.Channel
) -> None:
    ch = manual_channel
    w = wallet(1003)
    await devnet_manual.fund(w.address, "10000")
    await devnet_manual.step_blocks(1)
    acc = await _account(ch, w.address)
    gtbt = int(time.time()) + 3600

    def stateful(cid: int, seq: int) -> bytes:
        msg = order(order_id(w, cid, flags=LONG_TERM), side=SELL, subticks=9_000_000_000, gtbt=gtbt)
        return sign(w, [msg], account_number=acc.account_number, sequence=seq)

    first = await _broadcast(ch, stateful(1, 0))
    assert first.code == 0
    with pytest.raises(grpc.aio.AioRpcError):
        await tx_grpc.ServiceStub(ch).GetTx(tx_service.GetTxRequest(hash=first.txhash))
    height = await devnet_manual.step_blocks(1)
    got = await tx_grpc.ServiceStub(ch).GetTx(
        tx_service.GetTxRequest(hash=first.txhash), timeout=TIMEOUT
    )
    assert (got.tx_response.height, got.tx_response.code) == (height, 0)
    assert got.tx.body.messages[0].type_url == "/dydxprotocol.clob.MsgPlaceOrder"
    assert (await _account(ch, w.address)).sequence == 1
    stale = await _broadcast(ch, stateful(2, 0))
    assert (stale.codespace, stale.code) == ("sdk", 32)
    assert stale.raw_log == (
        "account sequence mismatch, expected 1, got 0: incorrect account sequence"
    )


async def test_good_til_block_window_at_an_exact_height(
    devnet_manual: DevnetProcess, manual_channel: grpc.aio.Channel
) -> None:
    ch = manual_channel
    w = wallet(1004)
    await devnet_manual.fund(w.address, "1000")
    h = await devnet_manual.step_blocks(1)
    acc = await _account(ch, w.address)

    async def send(cid: int, gtb: int) -> tuple[str, int]:
        tx = sign(w, [order(order_id(w, cid), gtb=gtb)], account_number=acc.account_number)
        r = await _broadcast(ch, tx)
        return (r.codespace, r.code)

    assert await send(1, h) == ("clob", 10)
    assert await send(2, h + 42) == ("clob", 11)
    assert await send(3, h + 1) == ("", 0)
    assert await send(4, h + 41) == ("", 0)


async def test_fill_shows_in_subaccount_as_serializable_ints(
    devnet: DevnetProcess, channel: grpc.aio.Channel
) -> None:
    w = wallet(1005)
    await devnet.fund(w.address, "5000")
    acc = await _account(channel, w.address)
    oracle = await prices_grpc.QueryStub(channel).MarketPrice(
        prices_query.QueryMarketPriceRequest(id=0), timeout=TIMEOUT
    )
    worst = oracle.market_price.price * 105 // 100 // 100_000 * 100_000  # BTC: price == subticks
    h = await _height(channel)
    tx = sign(
        w,
        [order(order_id(w, 7), side=BUY, quantums=10_000_000, subticks=worst, gtb=h + 10, tif=IOC)],
        account_number=acc.account_number,
    )
    assert (await _broadcast(channel, tx)).code == 0
    resp = await sa_grpc.QueryStub(channel).Subaccount(
        sa_query.QueryGetSubaccountRequest(owner=w.address, number=0), timeout=TIMEOUT
    )
    sub = resp.subaccount
    [pos] = sub.perpetual_positions
    assert (pos.perpetual_id, _from_serializable_int(pos.quantums)) == (0, 10_000_000)
    usdc = _from_serializable_int(sub.asset_positions[0].quantums)
    assert 0 < usdc < 5_000_000_000


async def test_unknown_subaccount_reads_as_empty(channel: grpc.aio.Channel) -> None:
    w = wallet(1006)
    resp = await sa_grpc.QueryStub(channel).Subaccount(
        sa_query.QueryGetSubaccountRequest(owner=w.address, number=3), timeout=TIMEOUT
    )
    assert resp.subaccount.id.owner == w.address
    assert list(resp.subaccount.asset_positions) == []


async def test_fault_switches(devnet: DevnetProcess, channel: grpc.aio.Channel) -> None:
    try:
        await devnet.set_faults(grpc_unavailable=True)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _height(channel)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        await devnet.set_faults(
            grpc_unavailable=False,
            broadcast_error={"codespace": "sdk", "code": 20, "raw_log": "mempool is full"},
        )
        r = await _broadcast(channel, b"anything")
        assert (r.codespace, r.code, r.raw_log) == ("sdk", 20, "mempool is full")
    finally:
        await devnet.reset_faults()
    assert await _height(channel) > 0
