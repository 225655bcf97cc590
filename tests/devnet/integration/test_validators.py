"""Several validators in one devnet, over real sockets: gossip, what a second validator answers,
proposer rotation, per-validator fault switches, and that an order re-sent to another validator
is on chain once.

The devnet (`devnet_validators`) has three validators, blocks only when stepped, and a gossip
delay of VALIDATORS_GOSSIP_DELAY_S. Validator i proposes the blocks whose height is i mod 3.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from tests.devnet.unit.txkit import BUY, IOC, LONG_TERM, SELL, order, order_id, sign, wallet
from tests.fixtures.devnet import VALIDATORS_GOSSIP_DELAY_S, DevnetProcess
from v4_proto.cosmos.auth.v1beta1 import auth_pb2
from v4_proto.cosmos.auth.v1beta1 import query_pb2 as auth_query
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_grpc
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc
from v4_proto.cosmos.tx.v1beta1 import service_pb2 as tx_service
from v4_proto.cosmos.tx.v1beta1 import service_pb2_grpc as tx_grpc
from v4_proto.dydxprotocol.prices import query_pb2 as prices_query
from v4_proto.dydxprotocol.prices import query_pb2_grpc as prices_grpc
from v4_proto.dydxprotocol.subaccounts import query_pb2 as sa_query
from v4_proto.dydxprotocol.subaccounts import query_pb2_grpc as sa_grpc

pytestmark = pytest.mark.integration
TIMEOUT = 10.0
GOSSIPED = VALIDATORS_GOSSIP_DELAY_S + 0.5  # long enough for gossip to have arrived


@pytest.fixture
async def nodes(devnet_validators: DevnetProcess) -> AsyncIterator[list[grpc.aio.Channel]]:
    assert len(devnet_validators.grpcs) == 3
    channels = [grpc.aio.insecure_channel(t) for t in devnet_validators.grpcs]
    try:
        yield channels
    finally:
        await devnet_validators.reset_faults()
        for ch in channels:
            await ch.close()


async def _broadcast(ch: grpc.aio.Channel, tx: bytes) -> tuple[str, int]:
    resp = await tx_grpc.ServiceStub(ch).BroadcastTx(
        tx_service.BroadcastTxRequest(tx_bytes=tx, mode=tx_service.BROADCAST_MODE_SYNC),
        timeout=TIMEOUT,
    )
    return resp.tx_response.codespace, resp.tx_response.code


async def _account(ch: grpc.aio.Channel, address: str) -> Any:
    resp = await auth_grpc.QueryStub(ch).Account(
        auth_query.QueryAccountRequest(address=address), timeout=TIMEOUT
    )
    acc = auth_pb2.BaseAccount()
    assert resp.account.Unpack(acc)
    return acc


async def _height(ch: grpc.aio.Channel) -> int:
    resp = await tm_grpc.ServiceStub(ch).GetLatestBlock(
        tm_query.GetLatestBlockRequest(), timeout=TIMEOUT
    )
    return int(resp.block.header.height)


async def _btc_position(ch: grpc.aio.Channel, address: str) -> int:
    resp = await sa_grpc.QueryStub(ch).Subaccount(
        sa_query.QueryGetSubaccountRequest(owner=address, number=0), timeout=TIMEOUT
    )
    for p in resp.subaccount.perpetual_positions:
        if p.perpetual_id == 0:
            mag = int.from_bytes(p.quantums[1:], "big")
            return -mag if p.quantums[0] == 3 else mag
    return 0


async def _ioc_buy_worst(ch: grpc.aio.Channel) -> int:
    oracle = await prices_grpc.QueryStub(ch).MarketPrice(
        prices_query.QueryMarketPriceRequest(id=0), timeout=TIMEOUT
    )
    return int(
        oracle.market_price.price * 105 // 100 // 100_000 * 100_000
    )  # BTC: price == subticks


async def _funded(d: DevnetProcess, ch: grpc.aio.Channel, n: int) -> tuple[Any, int]:
    w = wallet(n)
    await d.fund(w.address, "100000")
    return w, (await _account(ch, w.address)).account_number


async def _included(d: DevnetProcess, tx_hash: str, upto: int, key: str = "operations") -> int:
    """How many kept blocks up to ``upto`` hold ``tx_hash``."""
    count = 0
    for h in range(2, upto + 1):
        count += (await d.block(h))[key].count(tx_hash)
    return count


def _hash(tx: bytes) -> str:
    import hashlib

    return hashlib.sha256(tx).hexdigest().upper()


async def test_ready_line_lists_every_validator_and_the_proposer_rotates(
    devnet_validators: DevnetProcess, nodes: list[grpc.aio.Channel]
) -> None:
    d = devnet_validators
    ports = [int(t.rsplit(":", 1)[1]) for t in d.grpcs]
    assert len(set(ports)) == 3
    top = await d.step_blocks(3)
    proposers = []
    for h in range(top - 2, top + 1):
        assert (await d.block(h))["proposer"] == h % 3
        resp = await tm_grpc.ServiceStub(nodes[h % 3]).GetBlockByHeight(
            tm_query.GetBlockByHeightRequest(height=h), timeout=TIMEOUT
        )
        proposers.append(resp.block.header.proposer_address)
        assert resp.sdk_block.header.proposer_address.startswith("dydxvalcons1")
    assert len(set(proposers)) == 3 and all(len(p) == 20 for p in proposers)
    # every validator answers queries from the same committed state
    assert {await _height(ch) for ch in nodes} == {top}


async def test_a_tx_reaches_the_others_after_the_gossip_delay_and_is_included_once(
    devnet_validators: DevnetProcess, nodes: list[grpc.aio.Channel]
) -> None:
    d = devnet_validators
    w, acc = await _funded(d, nodes[0], 3001)
    h = await d.step_blocks(1)
    tx = sign(w, [order(order_id(w, 1), subticks=100_000_000, gtb=h + 20)], account_number=acc)
    sent = time.monotonic()
    assert await _broadcast(nodes[0], tx) == ("", 0)
    assert _hash(tx) in await d.mempool(0)
    early = _hash(tx) in await d.mempool(1)
    if time.monotonic() - sent < VALIDATORS_GOSSIP_DELAY_S:
        # Read before the gossip delay could have passed (a busy machine may not manage it).
        assert not early  # not yet gossiped
    await asyncio.sleep(GOSSIPED)
    assert all([_hash(tx) in await d.mempool(i) for i in range(3)])
    # an identical re-send to validator 1 meets its tx cache (CometBFT: sdk/19)
    assert await _broadcast(nodes[1], tx) == ("sdk", 19)
    # the same order in other bytes meets validator 1's memclob: an identical order is not a
    # valid replacement (clob/20, memclob.go validateReplacement)
    other = sign(
        w,
        [order(order_id(w, 1), subticks=100_000_000, gtb=h + 20)],
        account_number=acc,
        memo="other bytes",
    )
    assert await _broadcast(nodes[1], other) == ("clob", 20)
    top = await d.step_blocks(1)
    assert await _included(d, _hash(tx), top) == 1
    assert all([_hash(tx) not in await d.mempool(i) for i in range(3)])
    # after the block, every validator's memclob holds the resting order (clob/20 everywhere)
    assert await _broadcast(nodes[2], other) == ("clob", 20)
    accepted = await d.accepted_orders(w.address)
    assert [(o["clientId"], o["validator"]) for o in accepted] == [(1, 0)]


@pytest.mark.parametrize("memo", ["", "other bytes"])
async def test_a_resend_to_another_validator_before_gossip_fills_once(
    devnet_validators: DevnetProcess, nodes: list[grpc.aio.Channel], memo: str
) -> None:
    d = devnet_validators
    w, acc = await _funded(d, nodes[0], 3002 if memo else 3003)
    h = await d.step_blocks(1)
    worst = await _ioc_buy_worst(nodes[0])
    msg = order(order_id(w, 5), side=BUY, quantums=10_000_000, subticks=worst, gtb=h + 10, tif=IOC)
    first = sign(w, [msg], account_number=acc)
    again = sign(w, [msg], account_number=acc, memo=memo)
    assert await _broadcast(nodes[0], first) == ("", 0)
    # before gossip, validator 1 has seen neither the bytes nor the order: it accepts them
    assert await _broadcast(nodes[1], again) == ("", 0)
    await asyncio.sleep(GOSSIPED)
    top = await d.step_blocks(3)  # every validator proposes once
    assert await _btc_position(nodes[2], w.address) == 10_000_000  # filled once, not twice
    total = await _included(d, _hash(first), top)
    if memo:
        total += await _included(d, _hash(again), top)
    assert total == 1
    assert not any([await d.mempool(i) for i in range(3)])


async def test_broadcast_reply_lost_keeps_the_tx_and_the_order_is_on_chain_once(
    devnet_validators: DevnetProcess, nodes: list[grpc.aio.Channel]
) -> None:
    d = devnet_validators
    w, acc = await _funded(d, nodes[0], 3004)
    h = await d.step_blocks(1)
    worst = await _ioc_buy_worst(nodes[0])
    msg = order(order_id(w, 9), side=BUY, quantums=20_000_000, subticks=worst, gtb=h + 10, tif=IOC)
    tx = sign(w, [msg], account_number=acc)
    faults = await d.set_validator_faults(0, broadcast_reply_lost={"times": 1})
    assert faults["broadcast_reply_lost"] == {"times": 1}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _broadcast(nodes[0], tx)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert (await d.validators())[0]["mempool"] == [_hash(tx)]  # CheckTx ran, the tx stayed
    assert (await d.reset_faults(0))["broadcast_reply_lost"] is None  # counted down to off
    await asyncio.sleep(GOSSIPED)
    # the client's retry on another validator: it has the tx by gossip
    assert await _broadcast(nodes[1], tx) == ("sdk", 19)
    top = await d.step_blocks(3)
    assert await _included(d, _hash(tx), top) == 1
    assert await _btc_position(nodes[1], w.address) == 20_000_000


async def test_fault_switches_are_per_validator(
    devnet_validators: DevnetProcess, nodes: list[grpc.aio.Channel]
) -> None:
    d = devnet_validators
    await d.set_validator_faults(1, grpc_unavailable=True)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _height(nodes[1])
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert await _height(nodes[0]) == await _height(nodes[2])
    assert (await d._call("GET", "/devnet/faults", params={"validator": 1}))["grpc_unavailable"]
    assert not (await d._call("GET", "/devnet/faults", params={"validator": 0}))["grpc_unavailable"]
    await d.reset_faults(1)
    await _height(nodes[1])
    # without ?validator: every validator
    await d.set_faults(grpc_error={"status": "RESOURCE_EXHAUSTED", "times": 1})
    for ch in nodes:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _height(ch)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await _height(ch)  # once per validator
    import httpx

    async with httpx.AsyncClient(base_url=d.admin, timeout=TIMEOUT) as c:
        unknown = await c.post("/devnet/faults", params={"validator": 7}, json={})
        assert unknown.status_code == 404
        chain_switch = await c.post(
            "/devnet/faults", params={"validator": 0}, json={"block_stall": True}
        )
        assert chain_switch.status_code == 400
        assert "not a validator's switch" in chain_switch.json()["errors"][0]["msg"]


async def test_stateful_tx_resent_to_another_validator(
    devnet_validators: DevnetProcess, nodes: list[grpc.aio.Channel]
) -> None:
    d = devnet_validators
    w, acc = await _funded(d, nodes[0], 3005)
    await d.step_blocks(1)
    seq = (await _account(nodes[0], w.address)).sequence
    gtbt = int(time.time()) + 3600

    def stateful(cid: int, memo: str = "") -> bytes:
        msg = order(order_id(w, cid, flags=LONG_TERM), side=SELL, subticks=9_000_000_000, gtbt=gtbt)
        return sign(w, [msg], account_number=acc, sequence=seq, memo=memo)

    tx = stateful(1)
    assert await _broadcast(nodes[0], tx) == ("", 0)
    await asyncio.sleep(GOSSIPED)
    # validator 1 has the tx by gossip: the same bytes meet its cache, other bytes with the same
    # sequence meet its check state (sdk/32, app/ante/replay_protection.go)
    assert await _broadcast(nodes[1], tx) == ("sdk", 19)
    assert await _broadcast(nodes[1], stateful(1, memo="x")) == ("sdk", 32)
    assert await _broadcast(nodes[2], stateful(2, memo="y")) == ("sdk", 32)
    top = await d.step_blocks(3)
    assert await _included(d, _hash(tx), top, key="txs") == 1
    assert (await _account(nodes[2], w.address)).sequence == seq + 1
    # committed: every validator's cache holds it (CometBFT mempool Update)
    assert await _broadcast(nodes[2], tx) == ("sdk", 19)


async def test_stateful_tx_resent_before_gossip_is_committed_once(
    devnet_validators: DevnetProcess, nodes: list[grpc.aio.Channel]
) -> None:
    d = devnet_validators
    w, acc = await _funded(d, nodes[0], 3006)
    await d.step_blocks(1)
    seq = (await _account(nodes[0], w.address)).sequence
    gtbt = int(time.time()) + 3600
    msg = order(order_id(w, 1, flags=LONG_TERM), side=SELL, subticks=9_000_000_000, gtbt=gtbt)
    a = sign(w, [msg], account_number=acc, sequence=seq)
    b = sign(w, [msg], account_number=acc, sequence=seq, memo="b")
    assert await _broadcast(nodes[0], a) == ("", 0)
    assert await _broadcast(nodes[1], b) == ("", 0)  # its check state has not seen `a`
    await asyncio.sleep(GOSSIPED)
    top = await d.step_blocks(3)
    delivered = await _included(d, _hash(a), top, key="txs") + await _included(
        d, _hash(b), top, key="txs"
    )
    assert delivered == 1
    assert (await _account(nodes[0], w.address)).sequence == seq + 1
    assert not any([await d.mempool(i) for i in range(3)])
