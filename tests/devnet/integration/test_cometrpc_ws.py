"""The devnet's CometBFT RPC websocket against CometBFT v0.38's: subscriptions keyed by the
canonical query (`libs/pubsub/pubsub.go`, `libs/pubsub/query` String), `unsubscribe` and
`unsubscribe_all` (`rpc/core/events.go`), bad params (`rpc/jsonrpc/server/ws_handler.go`) and
the event shapes (`types/events.go`, `abci/types/types.pb.go`)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.devnet.integration.cometrpc_kit import (
    TIMEOUT,
    b64,
    exec_result,
    funded,
    long_term,
    result,
)
from tests.fixtures.devnet import DevnetProcess
from websockets.asyncio.client import ClientConnection, connect

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
async def ws(devnet_manual: DevnetProcess) -> AsyncIterator[ClientConnection]:
    async with connect(devnet_manual.rpc.replace("http://", "ws://") + "/websocket") as conn:
        yield conn


async def call(ws: ClientConnection, rid: Any, method: str, params: Any = None) -> Any:
    """A request and its answer (no subscription may be live: events would interleave)."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        body["params"] = params
    await ws.send(json.dumps(body))
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


def internal(data: str) -> dict[str, Any]:
    return {"code": -32603, "message": "Internal error", "data": data}


async def test_subscriptions_are_keyed_by_the_canonical_query(ws: ClientConnection) -> None:
    # no subscription: unsubscribe_all is not found either (pubsub.go UnsubscribeAll)
    assert (await call(ws, 1, "unsubscribe_all"))["error"] == internal("subscription not found")
    assert (await call(ws, 2, "subscribe", {"query": "tm.event = 'Tx'"}))["result"] == {}
    # the same query written differently is the same subscription (Query.String())
    again = await call(ws, 3, "subscribe", {"query": "tm.event='Tx'"})
    assert again["error"] == internal("already subscribed")
    # an unparsable query is a parse error on unsubscribe too (Unsubscribe: cmtquery.New)
    bad = await call(ws, 4, "unsubscribe", {"query": "tx.height >> 5"})
    assert bad["error"]["code"] == -32603
    assert bad["error"]["data"].startswith("failed to parse query: ")
    assert (await call(ws, 5, "unsubscribe", {"query": "tm.event='Tx'"}))["result"] == {}
    gone = await call(ws, 6, "unsubscribe", {"query": "tm.event='Tx'"})
    assert gone["error"] == internal("subscription not found")
    assert (await call(ws, 7, "subscribe", {"query": "tm.event='Tx'"}))["result"] == {}
    assert (await call(ws, 8, "unsubscribe_all"))["result"] == {}
    assert (await call(ws, 9, "unsubscribe_all"))["error"] == internal("subscription not found")


async def test_no_events_after_unsubscribe(
    devnet_manual: DevnetProcess, ws: ClientConnection
) -> None:
    assert (await call(ws, "nb", "subscribe", ["tm.event='NewBlock'"]))["result"] == {}
    assert (await call(ws, "h", "subscribe", ["tm.event='NewBlockHeader'"]))["result"] == {}
    assert (await call(ws, "u", "unsubscribe", ["tm.event = 'NewBlock'"]))["result"] == {}
    # NewBlock fires before NewBlockHeader (state/execution.go fireEvents): once the header of
    # our block arrived, a NewBlock event would have too
    height = await devnet_manual.step_blocks(1)
    ids = []
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        ids.append(msg["id"])
        if msg["id"] == "h" and msg["result"]["data"]["value"]["header"]["height"] == str(height):
            break
    assert "nb" not in ids
    # and after unsubscribe_all nothing comes at all: the next message answers our request
    assert (await call(ws, "all", "unsubscribe_all"))["id"] == "all"
    await devnet_manual.step_blocks(1)
    assert await call(ws, "ping", "health") == {"jsonrpc": "2.0", "id": "ping", "result": {}}


async def test_bad_params_on_the_websocket_are_internal_errors(ws: ClientConnection) -> None:
    # ws_handler.go answers RPCInternalError where the HTTP handler answers -32602
    bad = await call(ws, 1, "block", {"height": 5})
    assert bad["error"] == internal(
        'error converting json params to arguments: invalid 64-bit integer encoding "5", '
        "expected string"
    )
    bad = await call(ws, 2, "subscribe", {"query": 5})
    assert bad["error"]["code"] == -32603
    assert bad["error"]["data"].startswith("error converting json params to arguments: ")


async def test_event_shapes_omit_what_cmtjson_omits(
    devnet_manual: DevnetProcess, ws: ClientConnection, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    w, number = await funded(devnet_manual, 2401)
    tx = long_term(w, number, 1, 0)
    assert (await call(ws, "b", "subscribe", ["tm.event='NewBlock'"]))["result"] == {}
    assert (await call(ws, "t", "subscribe", ["tm.event='Tx'"]))["result"] == {}
    body = {"jsonrpc": "2.0", "id": 1, "method": "broadcast_tx_sync",
            "params": {"tx": base64.b64encode(tx).decode()}}  # fmt: skip
    assert (await http.post(url, json=body)).json()["result"]["code"] == 0
    full = await devnet_manual.step_blocks(1)
    empty = await devnet_manual.step_blocks(1)
    blocks: dict[str, dict[str, Any]] = {}
    event: dict[str, Any] = {}
    while len(blocks) < 2 or not event:
        msg = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        value = msg["result"]["data"]["value"]
        if msg["id"] == "b" and value["block"]["header"]["height"] in (str(full), str(empty)):
            blocks[value["block"]["header"]["height"]] = value["result_finalize_block"]
        elif msg["id"] == "t":
            event = value["TxResult"]
    # abci.TxResult: index is omitempty, so the first tx of a block has none
    assert event == {
        "height": str(full),
        "tx": base64.b64encode(tx).decode(),
        "result": {"gas_wanted": "1000000"},
    }
    # ResponseFinalizeBlock: tx_results omitempty, validator_updates always there; the results
    # themselves are pointers and print whole (ExecTxResult's MarshalJSON), unlike the Tx event's
    assert blocks[str(full)]["tx_results"] == [exec_result("1000000")]
    assert blocks[str(full)]["validator_updates"] == []
    assert "tx_results" not in blocks[str(empty)]
    assert blocks[str(empty)]["validator_updates"] == []


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
