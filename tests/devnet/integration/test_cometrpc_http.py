"""The devnet's CometBFT RPC over HTTP where it used to differ from CometBFT v0.38.15: `tx` with
an empty hash
(`state/txindex/kv/kv.go` Get), `tx` with `prove` (`types/tx.go` Txs.Proof), Go's JSON decode
errors (`encoding/json` scanner) and CORS (`rpc/jsonrpc/server/http_server.go`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tests.fixtures.devnet import DevnetProcess

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
TIMEOUT = 10.0


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        yield client


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
