"""The devnet's CometBFT RPC over HTTP where it used to differ from CometBFT v0.38.15: `tx` with
an empty hash
(`state/txindex/kv/kv.go` Get), `tx` with `prove` (`types/tx.go` Txs.Proof), Go's JSON decode
errors (`encoding/json` scanner) and CORS (`rpc/jsonrpc/server/http_server.go`)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
import pytest
from tests.devnet.integration.cometrpc_kit import funded, long_term
from tests.fixtures.devnet import DevnetProcess

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def rpc(http: httpx.AsyncClient, url: str, method: str, **params: Any) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 9, "method": method, "params": params}
    out: dict[str, Any] = (await http.post(url, json=body)).json()
    return out


async def test_tx_with_an_empty_hash(devnet_manual: DevnetProcess, http: httpx.AsyncClient) -> None:
    out = await rpc(http, devnet_manual.rpc, "tx", hash="")
    # txindex.ErrorEmptyHash, before the lookup
    assert out["error"] == {
        "code": -32603,
        "message": "Internal error",
        "data": "transaction hash cannot be empty",
    }


async def test_json_syntax_errors_are_go_texts(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    r = await http.post(devnet_manual.rpc, content=b"get")
    assert r.status_code == 500
    assert r.json() == {
        "jsonrpc": "2.0",
        "error": {
            "code": -32700,
            "message": "Parse error. Invalid JSON",
            "data": "error unmarshaling request: invalid character 'g' looking for beginning of "
            "value",
        },
    }


async def test_cors_allows_every_origin(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    # dYdX's config.go: CORSAllowedOrigins ["*"]; methods and headers CometBFT's defaults
    url, origin = devnet_manual.rpc, {"Origin": "http://app.example"}
    pre = await http.options(
        url,
        headers={**origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "Content-Type"},
    )  # fmt: skip
    assert pre.status_code in (200, 204)
    assert pre.headers["access-control-allow-origin"] == "*"
    methods = {m.strip() for m in pre.headers["access-control-allow-methods"].split(",")}
    assert methods == {"HEAD", "GET", "POST"}
    allowed = {h.strip().lower() for h in pre.headers["access-control-allow-headers"].split(",")}
    assert {"origin", "accept", "content-type", "x-requested-with", "x-server-time"} <= allowed
    refused = await http.options(url, headers={**origin, "Access-Control-Request-Method": "DELETE"})
    assert "DELETE" not in refused.headers.get("access-control-allow-methods", "")
    body = {"jsonrpc": "2.0", "id": 1, "method": "health"}
    r = await http.post(url, json=body, headers=origin)
    assert r.json()["result"] == {} and r.headers["access-control-allow-origin"] == "*"


async def test_tx_with_prove_carries_a_proof_of_the_data_hash(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    txs = []
    for n in (2501, 2502):
        w, number = await funded(devnet_manual, n)
        txs.append(long_term(w, number, 1, 0))
    for tx in txs:
        sent = await rpc(http, url, "broadcast_tx_sync", tx=base64.b64encode(tx).decode())
        assert sent["result"]["code"] == 0
    height = await devnet_manual.step_blocks(1)
    block = (await rpc(http, url, "block", height=str(height)))["result"]["block"]
    assert block["data"]["txs"] == [base64.b64encode(t).decode() for t in txs]
    data_hash = bytes.fromhex(block["header"]["data_hash"])
    leaves = [hashlib.sha256(t).digest() for t in txs]
    for i, tx in enumerate(txs):
        h = base64.b64encode(hashlib.sha256(tx).digest()).decode()
        plain = (await rpc(http, url, "tx", hash=h))["result"]
        assert "proof" not in plain  # ResultTx.Proof is omitempty
        got = (await rpc(http, url, "tx", hash=h, prove=True))["result"]
        assert {k: v for k, v in got.items() if k != "proof"} == plain
        proof = got["proof"]
        assert proof["root_hash"] == block["header"]["data_hash"]
        assert proof["data"] == base64.b64encode(tx).decode()
        p = proof["proof"]
        assert (p["total"], p["index"]) == ("2", str(i))
        # types.TxProof.Validate: leaf = sha256(0x00 || sha256(tx)); one aunt, the sibling leaf
        leaf = base64.b64decode(p["leaf_hash"])
        assert leaf == hashlib.sha256(b"\x00" + leaves[i]).digest()
        (aunt,) = (base64.b64decode(a) for a in p["aunts"])
        assert aunt == hashlib.sha256(b"\x00" + leaves[1 - i]).digest()
        pair = (leaf, aunt) if i == 0 else (aunt, leaf)
        assert hashlib.sha256(b"\x01" + pair[0] + pair[1]).digest() == data_hash
    # the URI form too
    uri = await http.get(f"{url}/tx", params={"hash": "0x" + hashlib.sha256(txs[0]).hexdigest(),
                                              "prove": "true"})  # fmt: skip
    assert uri.json()["result"]["proof"]["root_hash"] == block["header"]["data_hash"]
