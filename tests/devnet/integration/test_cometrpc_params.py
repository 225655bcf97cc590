"""The devnet's CometBFT RPC decodes parameters as CometBFT 0.38 does, over real sockets
(`rpc/jsonrpc/server/http_json_handler.go` with cmtjson, `http_uri_handler.go`): an int64 in a
JSON-RPC body is a string and a bare number is refused; in the URI form a bare integer is an
integer, `0x` hex is refused for one, and anything else is decoded as JSON (a quoted integer
too)."""

from __future__ import annotations

import httpx
import pytest
from tests.devnet.integration.cometrpc_kit import call
from tests.fixtures.devnet import DevnetProcess

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_json_rpc_int64_params_are_strings(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    height = await devnet_manual.step_blocks(1)
    ok = await call(http, url, "block", {"height": str(height)})
    assert ok["result"]["block"]["header"]["height"] == str(height)
    # cmtjson refuses a bare number for an int64 (libs/json/decoder.go)
    bare = await call(http, url, "block", {"height": height})
    assert bare["error"] == {
        "code": -32602,
        "message": "Invalid params",
        "data": "error converting json params to arguments: invalid 64-bit integer encoding "
        f'"{height}", expected string',
    }
    bare = await call(http, url, "abci_query", {"path": "/x", "height": 0})
    assert bare["error"]["code"] == -32602
    assert (await call(http, url, "block", [str(height)]))["result"] == ok["result"]


async def test_uri_params_decode_like_cometbft(
    devnet_manual: DevnetProcess, http: httpx.AsyncClient
) -> None:
    url = devnet_manual.rpc
    height = await devnet_manual.step_blocks(1)
    bare = await http.get(f"{url}/block", params={"height": str(height)})
    assert bare.status_code == 200
    # not a bare integer: decoded as JSON, and an int64 as a JSON string is fine
    quoted = await http.get(f"{url}/block", params={"height": f'"{height}"'})
    assert quoted.status_code == 200, quoted.text
    assert quoted.json() == bare.json()
    hexed = await http.get(f"{url}/block", params={"height": "0x1"})
    assert hexed.status_code == 500
    assert hexed.json()["error"] == {
        "code": -32602,
        "message": "Invalid params",
        "data": "error converting http params to arguments: got a hex string arg, but expected "
        "'int64'",
    }
    unquoted = await http.get(f"{url}/abci_query", params={"path": "/cosmos.auth.v1beta1.Query/X"})
    assert unquoted.status_code == 500 and unquoted.json()["error"]["code"] == -32602
    # bool: JSON; bytes: quoted string or 0x hex
    proved = await http.get(
        f"{url}/abci_query",
        params={"path": '"/dydxprotocol.clob.Query/ClobPairAll"', "prove": "false"},
    )
    assert proved.status_code == 200 and "value" in proved.json()["result"]["response"]
