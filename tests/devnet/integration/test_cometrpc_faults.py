"""The devnet's CometBFT JSON-RPC over real sockets: faults applied per validator (each runs
its own check_tx and RPC), and the JSON-RPC envelope's errors."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import pytest
from tests.devnet.integration.cometrpc_kit import (
    b64,
    funded,
    result,
    rpc,
)
from tests.devnet.unit.txkit import order, order_id, sign
from tests.fixtures.devnet import DevnetProcess
from websockets.asyncio.client import connect

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_faults_apply_per_validator(
    devnet_validators: DevnetProcess, http: httpx.AsyncClient
) -> None:
    d = devnet_validators
    assert len(d.rpcs) == 3
    assert [v["rpc"] for v in await d.validators()] == list(d.rpcs)
    assert (await d.status())["rpc"] == list(d.rpcs)
    # each validator's status names itself
    for i, url in enumerate(d.rpcs):
        assert (await result(http, url, "status"))["node_info"]["moniker"] == f"dydx-devnet-{i}"
    try:
        await d.set_validator_faults(1, grpc_unavailable=True)
        down = await http.post(d.rpcs[1], json={"jsonrpc": "2.0", "id": 1, "method": "status"})
        assert down.status_code == 503
        assert (await result(http, d.rpcs[0], "health")) == {}
        await d.reset_faults(1)
        await d.set_validator_faults(2, grpc_error={"status": "RESOURCE_EXHAUSTED", "times": 1})
        throttled = await http.get(f"{d.rpcs[2]}/health")
        assert throttled.status_code == 429
        assert (await http.get(f"{d.rpcs[2]}/health")).status_code == 200  # times: 1
        # broadcast_error answers through the shared BroadcastTx servicer, without CheckTx
        await d.set_validator_faults(
            0, broadcast_error={"codespace": "sdk", "code": 32, "raw_log": "fault", "times": 1}
        )
        r = await result(http, d.rpcs[0], "broadcast_tx_sync", tx=b64(b"\x01\x02"))
        assert (r["codespace"], r["code"], r["log"]) == ("sdk", 32, "fault")
        # the switch was used up: now CheckTx runs and cannot decode the bytes
        r = await result(http, d.rpcs[0], "broadcast_tx_sync", tx=b64(b"\x01\x02"))
        assert (r["codespace"], r["code"]) == ("sdk", 2)
        # broadcast_unavailable: the broadcast fails before CheckTx, queries still answer
        await d.set_validator_faults(0, broadcast_unavailable=True)
        body = {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_sync",
                "params": {"tx": b64(b"\x01\x03")}}  # fmt: skip
        assert (await http.post(d.rpcs[0], json=body)).status_code == 503
        assert (await result(http, d.rpcs[0], "health")) == {}
        await d.reset_faults(0)
        # broadcast_reply_lost: CheckTx ran (the bytes are in the cache), the caller got no answer
        await d.set_validator_faults(0, broadcast_reply_lost={"times": 1})
        assert (await http.post(d.rpcs[0], json=body)).status_code == 503
        again = await rpc(http, d.rpcs[0], "broadcast_tx_sync", tx=b64(b"\x01\x03"))
        assert again["error"]["data"] == "tx already exists in cache"
        # grpc_refuse_connections closes the validator's RPC port too
        await d.set_validator_faults(1, grpc_refuse_connections=True)
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{d.rpcs[1]}/health")
        await d.reset_faults(1)
        assert (await http.get(f"{d.rpcs[1]}/health")).status_code == 200
    finally:
        await d.reset_faults()


async def test_jsonrpc_envelope_errors(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    r = await http.post(url, content=b"{not json")
    assert r.status_code == 500 and r.json()["error"]["code"] == -32700
    r = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": 7})
    assert r.status_code == 500 and r.json()["error"]["data"] == (
        "error unmarshaling request: json: cannot unmarshal number into Go struct field .method "
        "of type string"
    )
    same = await http.post(url, json={"JSONRPC": "2.0", "Id": 1, "Method": "health"})
    assert same.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
    out = await rpc(http, url, "no_such_method")
    assert out["error"] == {"code": -32601, "message": "Method not found"}
    bad = await rpc(http, url, "block", height="abc")
    assert bad["error"]["code"] == -32602
    # a batch answers a list; a notification (no id) gets no answer
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "health"},
        {"jsonrpc": "2.0", "method": "health"},
        {"jsonrpc": "2.0", "id": "b", "method": "health"},
    ]
    assert (await http.post(url, json=batch)).json() == [
        {"jsonrpc": "2.0", "id": 1, "result": {}},
        {"jsonrpc": "2.0", "id": "b", "result": {}},
    ]
    # subscribe is a websocket method
    assert (await rpc(http, url, "subscribe", query="tm.event='Tx'"))["error"]["code"] == -32601


async def test_each_validator_runs_its_own_check_tx(
    devnet_validators: DevnetProcess, http: httpx.AsyncClient
) -> None:
    d = devnet_validators
    w, number = await funded(d, 2106)
    h = int((await result(http, d.rpcs[1], "status"))["sync_info"]["latest_block_height"])
    tx = sign(w, [order(order_id(w, 1), subticks=100_000_000, gtb=h + 20)], account_number=number)
    tx_hash = hashlib.sha256(tx).hexdigest().upper()
    assert (await result(http, d.rpcs[1], "broadcast_tx_sync", tx=b64(tx)))["code"] == 0
    assert tx_hash in await d.mempool(1)  # (the others get it by gossip, after the delay)
    again = await rpc(http, d.rpcs[1], "broadcast_tx_sync", tx=b64(tx))
    assert again["error"]["data"] == "tx already exists in cache"
    accepted = await d.accepted_orders(w.address)
    assert [(o["clientId"], o["validator"]) for o in accepted] == [(1, 1)]


async def test_latency_fault_delays_this_validators_rpc(
    devnet_validators: DevnetProcess, http: httpx.AsyncClient
) -> None:
    d = devnet_validators
    delay = 0.3
    try:
        await d.set_validator_faults(2, grpc_latency_s=delay)
        for url, slow in ((d.rpcs[2], True), (d.rpcs[0], False)):
            start = time.monotonic()
            assert (await http.get(f"{url}/health")).status_code == 200
            assert await result(http, url, "health") == {}
            elapsed = time.monotonic() - start
            assert elapsed >= 2 * delay if slow else elapsed < delay, (url, elapsed)
        ws_url = d.rpcs[2].replace("http://", "ws://") + "/websocket"
        async with connect(ws_url) as ws:
            start = time.monotonic()
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "health"}))
            assert json.loads(await ws.recv())["result"] == {}
            assert time.monotonic() - start >= delay
    finally:
        await d.reset_faults()
