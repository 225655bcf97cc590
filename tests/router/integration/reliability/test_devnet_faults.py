"""The devnet's fault switches for reliability tests, over real sockets."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import grpc
import httpx
import pytest
import websockets
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc
from v4_proto.cosmos.tx.v1beta1 import service_pb2 as tx_service
from v4_proto.cosmos.tx.v1beta1 import service_pb2_grpc as tx_grpc

from tests.fixtures.devnet import DevnetProcess

pytestmark = pytest.mark.integration


async def _height(target: str) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        resp = await tm_grpc.ServiceStub(channel).GetLatestBlock(
            tm_query.GetLatestBlockRequest(), timeout=3
        )
    return int(resp.sdk_block.header.height)


def _connect(target: str) -> None:
    host, port = target.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2):
        pass


async def test_chosen_grpc_error_fires_the_given_number_of_times(
    reliability_devnet: DevnetProcess,
) -> None:
    d = reliability_devnet
    try:
        state = await d.set_faults(grpc_error={"status": "RESOURCE_EXHAUSTED", "times": 2})
        assert state["grpc_error"]["status"] == "RESOURCE_EXHAUSTED"
        for _ in range(2):
            with pytest.raises(grpc.aio.AioRpcError) as exc:
                await _height(d.grpc)
            assert exc.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await _height(d.grpc) > 0  # spent: the switch turned itself off
        assert (await d._call("GET", "/devnet/faults"))["grpc_error"] is None
    finally:
        await d.reset_faults()


async def test_unknown_grpc_status_is_refused(reliability_devnet: DevnetProcess) -> None:
    async with httpx.AsyncClient(base_url=reliability_devnet.admin) as c:
        resp = await c.post("/devnet/faults", json={"grpc_error": {"status": "NOPE"}})
    assert resp.status_code == 400 and "unknown gRPC status" in resp.text


async def test_refused_connections_then_the_same_chain_again(
    reliability_devnet: DevnetProcess,
) -> None:
    d = reliability_devnet
    before = await _height(d.grpc)
    try:
        await d.set_faults(grpc_refuse_connections=True)
        with pytest.raises(ConnectionRefusedError):
            _connect(d.grpc)
        await asyncio.sleep(0.5)
    finally:
        await d.reset_faults()
    _connect(d.grpc)
    after = await _height(d.grpc)
    assert after > before  # same chain, state kept; blocks went on while the port was closed


async def test_broadcast_error_with_times_counts_down(reliability_devnet: DevnetProcess) -> None:
    d = reliability_devnet

    async def broadcast() -> tuple[str, int]:
        async with grpc.aio.insecure_channel(d.grpc) as channel:
            resp = await tx_grpc.ServiceStub(channel).BroadcastTx(
                tx_service.BroadcastTxRequest(tx_bytes=b"not a tx", mode=2), timeout=3
            )
        return resp.tx_response.codespace, resp.tx_response.code

    try:
        await d.set_faults(
            broadcast_error={"codespace": "sdk", "code": 32, "raw_log": "x", "times": 2}
        )
        assert [await broadcast() for _ in range(2)] == [("sdk", 32), ("sdk", 32)]
        assert await broadcast() == ("sdk", 2)  # CheckTx again: the bytes do not decode
    finally:
        await d.reset_faults()


async def test_subaccount_subscriptions_refused_a_number_of_times(
    reliability_devnet: DevnetProcess,
) -> None:
    d = reliability_devnet
    channel_id = "dydx1nobody0000000000000000000000000000000/0"

    async def subscribe(ws: Any) -> dict[str, Any]:
        await ws.send(
            json.dumps({"type": "subscribe", "channel": "v4_subaccounts", "id": channel_id})
        )
        answer: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 3))
        return answer

    try:
        state = await d.set_faults(indexer_ws_subscribe_error=2)
        assert state["indexer_ws_subscribe_error"] == 2
        async with websockets.connect(d.ws) as ws:
            assert json.loads(await ws.recv())["type"] == "connected"
            answers = [await subscribe(ws) for _ in range(3)]
        assert [a["type"] for a in answers] == ["error", "error", "subscribed"]
        assert answers[0]["message"] == (
            "Internal error, could not fetch data for subscription: v4_subaccounts."
        )
        assert (answers[0]["channel"], answers[0]["id"]) == ("v4_subaccounts", channel_id)
        assert (await d._call("GET", "/devnet/faults"))["indexer_ws_subscribe_error"] == 0
    finally:
        await d.reset_faults()
