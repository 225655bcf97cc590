"""The CometBFT RPC of a devnet embedded in the test's process (real sockets), for what needs
the devnet's internals: broadcast_tx_commit's timeout (10 s upstream, shortened here), the
ready line and a fresh validator cache."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from tests.devnet.integration.cometrpc_kit import exec_result
from tests.devnet.unit.txkit import order, order_id, sign, wallet

from dydx_devnet import cli
from dydx_devnet.app import Devnet, DevnetConfig

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
async def devnet(request: pytest.FixtureRequest) -> AsyncIterator[Devnet]:
    validators = getattr(request, "param", 1)
    d = Devnet(
        DevnetConfig(
            grpc_port=0, indexer_port=0, ws_port=0, admin_port=0, block_time=0, rpc_port=0,
            validators=validators, timeout_broadcast_tx_commit=0.3,
        )
    )  # fmt: skip
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


async def test_ready_line_lists_the_rpc_url(devnet: Devnet) -> None:
    assert devnet.ready_line().endswith(f" rpc={devnet.rpc_urls[0]}")
    assert devnet.rpc_urls[0].startswith("http://127.0.0.1:")


async def test_broadcast_tx_commit_timeout_defaults_to_cometbfts() -> None:
    # config/config.go DefaultRPCConfig: TimeoutBroadcastTxCommit 10 * time.Second
    assert DevnetConfig().timeout_broadcast_tx_commit == 10.0
    option = inspect.signature(cli.run).parameters["timeout_broadcast_tx_commit"]
    assert option.default == 10.0


async def test_broadcast_tx_commit_times_out_like_cometbft(devnet: Devnet) -> None:
    # the fixture's devnet waits 0.3 s (DevnetConfig.timeout_broadcast_tx_commit)
    w = wallet(2201)
    devnet.engine.fund(w.address, 0, Decimal(1000))
    devnet.step_blocks(1)
    acc = devnet.state.account(w.address)
    assert acc is not None
    h = devnet.state.height
    # a short-term order is accepted by CheckTx but never delivered in a block (the proposer
    # drops it, `app/prepare/other_msgs.go` RemoveDisallowMsgs, `IsDisallowClobOrderMsgInOtherTxs`)
    tx = sign(
        w,
        [order(order_id(w, 1), subticks=100_000_000, gtb=h + 20)],
        account_number=acc.account_number,
    )
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "broadcast_tx_commit",
        "params": {"tx": base64.b64encode(tx).decode()},
    }
    # nobody waits for a block: the RPC does not even subscribe to the event bus
    assert devnet.bus.subscriber_count == 0
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as client:
        call = asyncio.create_task(client.post(devnet.rpc_urls[0], json=body))
        for _ in range(200):  # until the call is in flight (a 0.3 s wait)
            if devnet.bus.subscriber_count or call.done():
                break
            await asyncio.sleep(0.01)
        assert devnet.bus.subscriber_count == 1  # the call waits for its block
        resp = await call
    elapsed = time.monotonic() - start
    assert devnet.bus.subscriber_count == 0  # and lets go once answered
    # the result is dropped and the error answered (`rpc/core/mempool.go`, `unreflectResult`)
    assert resp.json() == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {
            "code": -32603,
            "message": "Internal error",
            "data": "timed out waiting for tx to be included in a block",
        },
    }
    assert 0.3 <= elapsed < 5
    # CheckTx did run: the order rests on the validator's book
    assert [o.order_id.client_id for o in devnet.engine.accepted_orders] == [1]


@pytest.mark.parametrize("devnet", [2], indirect=True)
async def test_an_empty_tx_is_refused_by_check_tx(devnet: Devnet) -> None:
    """v0.38's mempool has no emptiness check (`mempool/clist_mempool.go` CheckTx): the empty tx
    reaches the app's CheckTx and comes back as its result, what the gRPC BroadcastTx answers.
    (A fresh devnet: dYdX keeps rejected txs in the cache, so the bytes work once per validator.)"""
    refused = {
        "code": 18,
        "log": "must contain at least one message: invalid request",
        "codespace": "sdk",
    }
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.get(f"{devnet.rpc_urls[0]}/broadcast_tx_sync", params={"tx": "0x"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["result"] == {
            **refused,
            "data": "",
            "hash": hashlib.sha256(b"").hexdigest().upper(),
        }
        body = {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_commit", "params": {"tx": ""}}
        out = (await client.post(devnet.rpc_urls[1], json=body)).json()["result"]
    # ResponseCheckTx and the zero ExecTxResult print every field (jsonpb, EmitDefaults)
    assert out["check_tx"] == exec_result(**refused)
    assert (out["tx_result"], out["height"]) == (exec_result(), "0")
