"""The devnet's CometBFT JSON-RPC over real sockets: shapes (CometBFT 0.38 `rpc/core/types`,
as CosmJS `tendermint37/adaptor/responses.ts` decodes them), abci_query against the gRPC answer,
broadcasts, errors and the URI form. Websocket events: test_cometrpc_ws.py; per-validator faults
and the JSON-RPC envelope: test_cometrpc_faults.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re

import grpc
import httpx
import pytest
from tests.devnet.integration.cometrpc_kit import (
    HEX64,
    TIMEOUT,
    b64,
    exec_result,
    funded,
    long_term,
    query,
    query_response,
    result,
    rpc,
)
from tests.devnet.unit.txkit import order, order_id, sign, wallet
from tests.fixtures.devnet import DevnetProcess
from v4_proto.cosmos.auth.v1beta1 import query_pb2 as auth_query
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_grpc
from v4_proto.dydxprotocol.clob import query_pb2 as clob_query
from v4_proto.dydxprotocol.clob import query_pb2_grpc as clob_grpc
from v4_proto.dydxprotocol.prices import query_pb2 as prices_query
from v4_proto.dydxprotocol.prices import query_pb2_grpc as prices_grpc
from v4_proto.dydxprotocol.subaccounts import query_pb2 as sa_query
from v4_proto.dydxprotocol.subaccounts import query_pb2_grpc as sa_grpc

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


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
