"""Helpers shared by the CometBFT JSON-RPC modules (test_cometrpc*.py): JSON-RPC calls, abci_query,
funded wallets, signed orders, and the ABCI results as CometBFT prints them."""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import grpc
import httpx
from tests.devnet.unit.txkit import LONG_TERM, SELL, order, order_id, sign, wallet
from tests.fixtures.devnet import DevnetProcess
from v4_proto.cosmos.auth.v1beta1 import auth_pb2
from v4_proto.cosmos.auth.v1beta1 import query_pb2 as auth_query
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_grpc

TIMEOUT = 10.0
HEX64 = re.compile(r"^[0-9A-F]{64}$")


async def call(
    http: httpx.AsyncClient, url: str, method: str, params: Any, rid: int = 3
) -> dict[str, Any]:
    """A JSON-RPC call with `params` as given (a dict, list or anything else); the whole response
    object, HTTP status 200."""
    body = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
    resp = await http.post(url, json=body)
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


async def rpc(http: httpx.AsyncClient, url: str, method: str, **params: Any) -> dict[str, Any]:
    """A JSON-RPC call; the whole response object (result or error)."""
    out = await call(http, url, method, params, rid=7)
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
