"""The devnet's CometBFT RPC where upstream's exact behaviour is easy to miss, over real sockets:
the block header and block events a websocket subscriber gets (CometBFT 0.38
`state/execution.go` fireEvents, `types/events.go`), `abci_query` at heights the devnet cannot
answer (cosmos-sdk v0.50 `baseapp/abci.go` Query, CreateQueryContext) and request ids of other
types (`rpc/jsonrpc/types/types.go` idFromInterface, `server/http_json_handler.go`)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
from tests.devnet.integration.cometrpc_kit import TIMEOUT, funded, long_term, query_response, result
from tests.fixtures.devnet import DevnetProcess
from websockets.asyncio.client import connect

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
CLOB_PAIRS = "/dydxprotocol.clob.Query/ClobPairAll"
PARSE_ERROR = {"code": -32700, "message": "Parse error. Invalid JSON"}
REQUEST_STRUCT = (
    'struct { JSONRPC string "json:\\"jsonrpc\\""; ID interface {} "json:\\"id,omitempty\\""; '
    'Method string "json:\\"method\\""; Params json.RawMessage "json:\\"params\\"" }'
)


async def signed_long_term_order(devnet: DevnetProcess, n: int) -> bytes:
    """A funded wallet's long-term sell far above the market (it rests)."""
    w, account_number = await funded(devnet, n)
    return long_term(w, account_number, 1, 0)


async def test_websocket_new_block_header_and_new_block_events(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    tx = await signed_long_term_order(devnet_manual, 2301)
    queries = {21: "tm.event='NewBlockHeader'", 22: "tm.event='NewBlockEvents'"}
    async with connect(url.replace("http://", "ws://") + "/websocket") as ws:
        for sid, q in queries.items():
            sub = {"jsonrpc": "2.0", "id": sid, "method": "subscribe", "params": {"query": q}}
            await ws.send(json.dumps(sub))
            assert json.loads(await ws.recv()) == {"jsonrpc": "2.0", "id": sid, "result": {}}
        sent = await result(http, url, "broadcast_tx_sync", tx=base64.b64encode(tx).decode())
        assert sent["code"] == 0
        height = await devnet_manual.step_blocks(1)
        got: dict[int, dict[str, Any]] = {}
        while len(got) < 2:
            msg = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            value = msg["result"]["data"]["value"]
            # other tests may step blocks meanwhile: keep the block we made
            h = value["header"]["height"] if msg["id"] == 21 else value["height"]
            if h == str(height):
                got[msg["id"]] = msg["result"]
    block = await result(http, url, "block", height=str(height))
    # EventDataNewBlockHeader{Header} (0.38: no num_txs, no begin/end block results)
    assert got[21] == {
        "query": queries[21],
        "data": {
            "type": "tendermint/event/NewBlockHeader",
            "value": {"header": block["block"]["header"]},
        },
        "events": {"tm.event": ["NewBlockHeader"]},
    }
    assert block["block"]["header"]["chain_id"] == "localdydxprotocol"
    # EventDataNewBlockEvents{Height, Events, NumTxs}: both int64s as strings
    assert got[22] == {
        "query": queries[22],
        "data": {
            "type": "tendermint/event/NewBlockEvents",
            "value": {"height": str(height), "events": [], "num_txs": "1"},
        },
        "events": {"tm.event": ["NewBlockEvents"]},
    }


async def _query(http: httpx.AsyncClient, url: str, path: str, **params: Any) -> dict[str, Any]:
    response: dict[str, Any] = (
        await result(http, url, "abci_query", path=path, data="", **params)
    )["response"]
    return response


async def test_abci_query_heights_the_devnet_cannot_answer(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    await devnet_manual.step_blocks(2)
    latest = int((await result(http, url, "status"))["sync_info"]["latest_block_height"])
    # a past height: the store's version is gone, as on a node that pruned it
    past = await _query(http, url, CLOB_PAIRS, height=str(latest - 1))
    # ResponseQuery prints every field (jsonpb, EmitDefaults); no height: the context was refused
    assert past == query_response(
        code=18,
        codespace="sdk",
        log=f"failed to load state at height {latest - 1}; version mismatch on immutable "
        "IAVL tree; version does not exist. Version has either been pruned, or is for a future "
        f"block height (latest height: {latest}): invalid request",
    )
    future = await _query(http, url, CLOB_PAIRS, height=str(latest + 5))
    assert future == query_response(
        code=26,
        codespace="sdk",
        log="cannot query with height in the future; please provide a valid height: invalid height",
    )
    negative = await _query(http, url, CLOB_PAIRS, height="-1")
    assert (negative["code"], negative["log"]) == (
        18,
        "cannot query with height < 0; please provide a valid height: invalid request",
    )
    proof = await _query(http, url, CLOB_PAIRS, height="1", prove=True)
    assert (proof["code"], proof["log"]) == (
        18,
        "cannot query with proof when height <= 1; please provide a valid height: invalid request",
    )
    # the path is routed before the height is looked at
    unknown = await _query(http, url, "/dydxprotocol.clob.Query/Nope", height=str(latest + 5))
    assert (unknown["code"], unknown["log"]) == (6, "unknown query path: unknown request")
    empty = await _query(http, url, "", height=str(latest + 5))
    assert (empty["code"], empty["log"]) == (6, "no query path provided: unknown request")
    # the latest height, given or not, answers
    assert (await _query(http, url, CLOB_PAIRS, height=str(latest)))["code"] == 0


async def test_request_ids_neither_string_nor_number_do_not_parse(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    r = await http.post(url, json={"jsonrpc": "2.0", "id": {"a": 1}, "method": "health"})
    assert r.status_code == 500
    assert r.json() == {
        "jsonrpc": "2.0",
        "error": {
            **PARSE_ERROR,
            "data": "error unmarshaling request: json-rpc ID (map[a:1]) is of unknown type "
            "(map[string]interface {})",
        },
    }
    r = await http.post(url, json={"jsonrpc": "2.0", "id": True, "method": "health"})
    assert (r.status_code, r.json()["error"]["data"]) == (
        500,
        "error unmarshaling request: json-rpc ID (true) is of unknown type (bool)",
    )
    # a number's decimals are truncated (JSONRPCIntID(int(id)))
    r = await http.post(url, json={"jsonrpc": "2.0", "id": 2.9, "method": "health"})
    assert (r.status_code, r.json()) == (200, {"jsonrpc": "2.0", "id": 2, "result": {}})
    # one bad id fails the whole batch; the handler then reports the array as one request
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "health"}, {"id": [1], "method": "health"}]
    r = await http.post(url, json=batch)
    assert r.status_code == 500
    assert r.json()["error"] == {
        **PARSE_ERROR,
        "data": f"error unmarshaling request: json: cannot unmarshal array into Go value of type "
        f"{REQUEST_STRUCT}",
    }
    # the websocket answers the same parse error and keeps the connection
    async with connect(url.replace("http://", "ws://") + "/websocket") as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": {"a": 1}, "method": "health"}))
        assert json.loads(await ws.recv())["error"]["code"] == -32700
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "health"}))
        assert json.loads(await ws.recv()) == {"jsonrpc": "2.0", "id": 3, "result": {}}
