"""The devnet's CometBFT JSON-RPC over real sockets: shapes (CometBFT 0.38 `rpc/core/types`,
as CosmJS `tendermint37/adaptor/responses.ts` decodes them), abci_query against the gRPC answer,
broadcasts, errors, the URI form, websocket events and per-validator faults."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from tests.devnet.unit.txkit import LONG_TERM, SELL, order, order_id, sign, wallet
from tests.fixtures.devnet import DevnetProcess
from v4_proto.cosmos.auth.v1beta1 import auth_pb2
from v4_proto.cosmos.auth.v1beta1 import query_pb2 as auth_query
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_grpc
from v4_proto.dydxprotocol.clob import query_pb2 as clob_query
from v4_proto.dydxprotocol.clob import query_pb2_grpc as clob_grpc
from v4_proto.dydxprotocol.prices import query_pb2 as prices_query
from v4_proto.dydxprotocol.prices import query_pb2_grpc as prices_grpc
from v4_proto.dydxprotocol.subaccounts import query_pb2 as sa_query
from v4_proto.dydxprotocol.subaccounts import query_pb2_grpc as sa_grpc
from websockets.asyncio.client import connect

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
TIMEOUT = 10.0
HEX64 = re.compile(r"^[0-9A-F]{64}$")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        yield client


async def rpc(http: httpx.AsyncClient, url: str, method: str, **params: Any) -> dict[str, Any]:
    """A JSON-RPC call; the whole response object (result or error)."""
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    resp = await http.post(url, json=body)
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    assert out["jsonrpc"] == "2.0" and out["id"] == 7
    return out


async def result(http: httpx.AsyncClient, url: str, method: str, **params: Any) -> Any:
    out = await rpc(http, url, method, **params)
    assert "error" not in out, out
    return out["result"]


async def query(http: httpx.AsyncClient, url: str, path: str, request: Any) -> dict[str, Any]:
    data = request.SerializeToString().hex()
    response: dict[str, Any] = (await result(http, url, "abci_query", path=path, data=data))[
        "response"
    ]
    return response


async def funded(devnet: DevnetProcess, n: int) -> tuple[Any, int]:
    """A wallet funded at genesis of its account; (wallet, account number) after a block."""
    w = wallet(n)
    await devnet.fund(w.address, "10000")
    await devnet.step_blocks(1)
    async with grpc.aio.insecure_channel(devnet.grpc) as ch:
        resp = await auth_grpc.QueryStub(ch).Account(
            auth_query.QueryAccountRequest(address=w.address), timeout=TIMEOUT
        )
    acc = auth_pb2.BaseAccount()
    assert resp.account.Unpack(acc)
    return w, acc.account_number


def exec_result(gas_wanted: str = "0", **fields: Any) -> dict[str, Any]:
    """An ExecTxResult/ResponseCheckTx as CometBFT prints it: MarshalJSON is gogo jsonpb with
    EmitDefaults (`abci/types/types.go`), every field present."""
    out = {"code": 0, "data": None, "log": "", "info": "", "gas_wanted": gas_wanted,
           "gas_used": "0", "events": [], "codespace": ""}  # fmt: skip
    return {**out, **fields}


def query_response(value: str | None = None, height: str = "0", **fields: Any) -> dict[str, Any]:
    """A ResponseQuery as CometBFT prints it (jsonpb, EmitDefaults, `proofOps` json_name)."""
    out = {"code": 0, "log": "", "info": "", "index": "0", "key": None, "value": value,
           "proofOps": None, "height": height, "codespace": ""}  # fmt: skip
    return {**out, **fields}


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def long_term(w: Any, account_number: int, cid: int, seq: int) -> bytes:
    msg = order(
        order_id(w, cid, flags=LONG_TERM),
        side=SELL,
        subticks=9_000_000_000,
        gtbt=int(time.time()) + 3600,
    )
    return sign(w, [msg], account_number=account_number, sequence=seq)


async def test_status_and_block_shapes(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    height = await devnet_manual.step_blocks(1)
    status = await result(http, url, "status")
    node, sync, val = status["node_info"], status["sync_info"], status["validator_info"]
    assert node["network"] == "localdydxprotocol" and node["version"].startswith("0.38.")
    assert node["protocol_version"] == {"p2p": "8", "block": "11", "app": "9"}
    assert re.fullmatch(r"[0-9a-f]{40}", node["id"]) and node["moniker"] == "dydx-devnet-0"
    assert node["other"]["rpc_address"] == url.replace("http://", "tcp://")
    assert sync["latest_block_height"] == str(height) and sync["catching_up"] is False
    assert sync["earliest_block_height"] == "1"
    assert HEX64.match(sync["latest_block_hash"]) and HEX64.match(sync["latest_app_hash"])
    # validator address = first 20 bytes of sha256(ed25519 pubkey) (crypto/ed25519)
    assert val["pub_key"]["type"] == "tendermint/PubKeyEd25519"
    pub = base64.b64decode(val["pub_key"]["value"])
    assert val["address"] == hashlib.sha256(pub).digest()[:20].hex().upper()
    assert val["voting_power"] == "10"

    block = await result(http, url, "block", height=str(height))
    assert block["block_id"]["hash"] == sync["latest_block_hash"]
    header = block["block"]["header"]
    assert header["height"] == str(height) and header["chain_id"] == "localdydxprotocol"
    assert header["version"] == {"block": "11", "app": "9"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", header["time"])
    assert header["time"] == sync["latest_block_time"]
    assert header["proposer_address"] == val["address"]
    prev = await result(http, url, "block", height=str(height - 1))
    assert header["last_block_id"] == prev["block_id"]
    # no height: the latest block
    assert (await result(http, url, "block"))["block_id"] == block["block_id"]
    # an empty block: data_hash is the Merkle root of no txs, sha256("")
    assert header["data_hash"] == hashlib.sha256(b"").hexdigest().upper()
    assert block["block"]["data"] == {"txs": []}
    assert block["block"]["last_commit"]["height"] == str(height - 1)
    genesis = await result(http, url, "block", height="1")
    assert genesis["block"]["header"]["last_block_id"] == {
        "hash": "",
        "parts": {"total": 0, "hash": ""},
    }
    too_high = await rpc(http, url, "block", height=str(height + 100))
    assert too_high["error"] == {
        "code": -32603,
        "message": "Internal error",
        "data": f"height {height + 100} must be less than or equal to the current blockchain "
        f"height {height}",
    }
    assert await result(http, url, "health") == {}
    info = (await result(http, url, "abci_info"))["response"]
    assert info["data"] == "dydxprotocol" and info["last_block_height"] == str(height)


async def test_abci_query_answers_what_grpc_answers(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    w, _ = await funded(devnet_manual, 2101)
    async with grpc.aio.insecure_channel(devnet_manual.grpc) as ch:
        cases = [
            (
                "/cosmos.auth.v1beta1.Query/Account",
                auth_query.QueryAccountRequest(address=w.address),
                auth_grpc.QueryStub(ch).Account,
            ),
            (
                "/dydxprotocol.clob.Query/ClobPair",
                clob_query.QueryGetClobPairRequest(id=0),
                clob_grpc.QueryStub(ch).ClobPair,
            ),
            (
                "/dydxprotocol.clob.Query/ClobPairAll",
                clob_query.QueryAllClobPairRequest(),
                clob_grpc.QueryStub(ch).ClobPairAll,
            ),
            (
                "/dydxprotocol.prices.Query/AllMarketPrices",
                prices_query.QueryAllMarketPricesRequest(),
                prices_grpc.QueryStub(ch).AllMarketPrices,
            ),
            (
                "/dydxprotocol.subaccounts.Query/Subaccount",
                sa_query.QueryGetSubaccountRequest(owner=w.address, number=0),
                sa_grpc.QueryStub(ch).Subaccount,
            ),
        ]
        for path, request, stub in cases:
            height = (await result(http, url, "status"))["sync_info"]["latest_block_height"]
            answer = await query(http, url, path, request)
            expected = (await stub(request, timeout=TIMEOUT)).SerializeToString()
            assert answer == query_response(b64(expected), height), path
    # the URI form answers the same
    request = clob_query.QueryGetClobPairRequest(id=0)
    posted = await query(http, url, "/dydxprotocol.clob.Query/ClobPair", request)
    resp = await http.get(
        f"{url}/abci_query",
        params={
            "path": '"/dydxprotocol.clob.Query/ClobPair"',
            "data": "0x" + request.SerializeToString().hex(),
        },
    )
    assert resp.status_code == 200
    assert resp.json() == {"jsonrpc": "2.0", "id": -1, "result": {"response": posted}}


async def test_abci_query_errors_are_sdk_errors(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    unknown = wallet(2102).address
    r = await query(
        http,
        url,
        "/cosmos.auth.v1beta1.Query/Account",
        auth_query.QueryAccountRequest(address=unknown),
    )
    # gRPCErrorToSDKError: NotFound -> sdk/22; CosmJS getAccount looks for "code = NotFound"
    assert (r["codespace"], r["code"]) == ("sdk", 22)
    assert (
        r["log"] == f"rpc error: code = NotFound desc = account {unknown} not found: key not found"
    )
    assert r["value"] is None and r["proofOps"] is None and r["index"] == "0"
    r = await query(
        http, url, "/dydxprotocol.clob.Query/Nope", clob_query.QueryAllClobPairRequest()
    )
    assert (r["codespace"], r["code"], r["log"]) == (
        "sdk",
        6,
        "unknown query path: unknown request",
    )
    r = (
        await result(http, url, "abci_query", path="/cosmos.auth.v1beta1.Query/Account", data="ff")
    )["response"]
    assert (r["codespace"], r["code"]) == ("sdk", 18)
    future = str(int((await result(http, url, "status"))["sync_info"]["latest_block_height"]) + 5)
    r = (
        await result(
            http,
            url,
            "abci_query",
            path="/dydxprotocol.clob.Query/ClobPairAll",
            data="",
            height=future,
        )
    )["response"]
    assert (r["codespace"], r["code"]) == ("sdk", 26)


async def test_broadcast_tx_sync_async_and_the_cache(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    w, number = await funded(devnet_manual, 2103)
    h = int((await result(http, url, "status"))["sync_info"]["latest_block_height"])
    tx = sign(w, [order(order_id(w, 1), subticks=100_000_000, gtb=h + 20)], account_number=number)
    tx_hash = hashlib.sha256(tx).hexdigest().upper()
    r = await result(http, url, "broadcast_tx_sync", tx=b64(tx))
    assert r == {"code": 0, "data": "", "log": "", "codespace": "", "hash": tx_hash}
    # the same bytes again: CometBFT's cache answers before the app (mempool ErrTxInCache)
    again = await rpc(http, url, "broadcast_tx_sync", tx=b64(tx))
    assert again["error"] == {
        "code": -32603,
        "message": "Internal error",
        "data": "tx already exists in cache",
    }
    # a CheckTx rejection is a result with its code, not an error (a wrong chain id: sdk/4)
    bad = sign(
        w,
        [order(order_id(w, 2), subticks=100_000_000, gtb=h + 20)],
        account_number=number,
        chain_id="other",
    )
    r = await result(http, url, "broadcast_tx_sync", tx=b64(bad))
    assert (r["codespace"], r["code"]) == ("sdk", 4)
    assert r["log"].startswith("signature verification failed")
    # async: the hash alone, CheckTx still runs (the order rests on the indexer's node)
    tx3 = sign(w, [order(order_id(w, 3), subticks=100_000_000, gtb=h + 20)], account_number=number)
    r = await result(http, url, "broadcast_tx_async", tx=b64(tx3))
    assert r == {
        "code": 0,
        "data": "",
        "log": "",
        "codespace": "",
        "hash": hashlib.sha256(tx3).hexdigest().upper(),
    }
    accepted = await devnet_manual.accepted_orders(w.address)
    assert [o["clientId"] for o in accepted] == [1, 3]
    # a short-term tx is never in a block: `tx` answers the missing-tx error
    missing = await rpc(http, url, "tx", hash=b64(bytes.fromhex(tx_hash)))
    assert missing["error"] == {
        "code": -32603,
        "message": "Internal error",
        "data": f"tx ({tx_hash}) not found",
    }
    uri = await http.get(f"{url}/tx", params={"hash": "0x" + tx_hash})
    assert uri.status_code == 500 and uri.json()["error"]["data"] == f"tx ({tx_hash}) not found"


async def test_broadcast_tx_commit_waits_for_the_block(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    w, number = await funded(devnet_manual, 2104)
    tx = long_term(w, number, 1, 0)
    tx_hash = hashlib.sha256(tx).hexdigest().upper()
    pending = asyncio.create_task(rpc(http, url, "broadcast_tx_commit", tx=b64(tx)))
    await asyncio.sleep(0.5)
    assert not pending.done()  # waiting for the block
    height = await devnet_manual.step_blocks(1)
    out = (await asyncio.wait_for(pending, TIMEOUT))["result"]
    # ExecTxResult and ResponseCheckTx print every field (jsonpb, EmitDefaults); CheckTx
    # reports the gas wanted as the delivery does (cosmos-sdk baseapp CheckTx)
    assert out == {
        "check_tx": exec_result("1000000"),
        "tx_result": exec_result("1000000"),
        "hash": tx_hash,
        "height": str(height),
    }
    got = await result(http, url, "tx", hash=b64(bytes.fromhex(tx_hash)))
    assert got == {
        "hash": tx_hash,
        "height": str(height),
        "index": 0,
        "tx_result": exec_result("1000000"),
        "tx": b64(tx),
    }
    block = await result(http, url, "block", height=str(height))
    assert block["block"]["data"]["txs"] == [b64(tx)]
    leaf = hashlib.sha256(b"\x00" + hashlib.sha256(tx).digest()).hexdigest().upper()
    assert block["block"]["header"]["data_hash"] == leaf  # RFC 6962, one leaf
    results = await result(http, url, "block_results", height=str(height))
    assert results["txs_results"] == [exec_result("1000000")]
    # a rejected tx answers at once: check_tx with the code, empty tx_result, height 0
    stale = long_term(w, number, 2, 0)  # sequence 0 was consumed
    out = await result(http, url, "broadcast_tx_commit", tx=b64(stale))
    assert out["check_tx"]["code"] == 32 and out["check_tx"]["codespace"] == "sdk"
    assert out["check_tx"]["log"].startswith("account sequence mismatch, expected 1, got 0")
    assert out["check_tx"]["gas_wanted"] == "1000000"  # on failure too
    assert (out["tx_result"], out["height"]) == (exec_result(), "0")  # the zero ExecTxResult


async def test_websocket_new_block_and_tx_events(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    w, number = await funded(devnet_manual, 2105)
    ws_url = url.replace("http://", "ws://") + "/websocket"
    async with connect(ws_url) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 11, "method": "subscribe",
                                  "params": {"query": "tm.event='NewBlock'"}}))  # fmt: skip
        assert json.loads(await ws.recv()) == {"jsonrpc": "2.0", "id": 11, "result": {}}
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "tx", "method": "subscribe",
                                  "params": {"query": "tm.event='Tx'"}}))  # fmt: skip
        assert json.loads(await ws.recv())["result"] == {}
        again = {"jsonrpc": "2.0", "id": 12, "method": "subscribe", "params": ["tm.event='Tx'"]}
        await ws.send(json.dumps(again))
        assert json.loads(await ws.recv())["error"]["data"] == "already subscribed"
        # any method works on the websocket too
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 13, "method": "health"}))
        assert json.loads(await ws.recv()) == {"jsonrpc": "2.0", "id": 13, "result": {}}

        tx = long_term(w, number, 1, 0)
        assert (await result(http, url, "broadcast_tx_sync", tx=b64(tx)))["code"] == 0
        height = await devnet_manual.step_blocks(1)
        events: dict[Any, dict[str, Any]] = {}
        while len(events) < 2:
            msg = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            res = msg["result"]
            # other tests may step blocks meanwhile: keep the block we made
            if msg["id"] == 11 and res["data"]["value"]["block"]["header"]["height"] == str(height):
                events[11] = res
            if msg["id"] == "tx":
                events["tx"] = res
        nb = events[11]
        assert nb["query"] == "tm.event='NewBlock'" and nb["events"]["tm.event"] == ["NewBlock"]
        assert nb["data"]["type"] == "tendermint/event/NewBlock"
        block = await result(http, url, "block", height=str(height))
        assert nb["data"]["value"]["block"] == block["block"]
        assert nb["data"]["value"]["block_id"] == block["block_id"]
        ev = events["tx"]
        tx_hash = hashlib.sha256(tx).hexdigest().upper()
        assert ev["events"] == {
            "tm.event": ["Tx"],
            "tx.hash": [tx_hash],
            "tx.height": [str(height)],
        }
        assert ev["data"] == {
            "type": "tendermint/event/Tx",
            "value": {
                # abci.TxResult's index is omitempty: the first tx has none
                "TxResult": {
                    "height": str(height),
                    "tx": b64(tx),
                    "result": {"gas_wanted": "1000000"},
                }
            },
        }


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
