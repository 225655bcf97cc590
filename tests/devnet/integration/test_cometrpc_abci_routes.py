"""`abci_query` reaches every gRPC service the devnet's node serves, by the same path and with the
same bytes, over real sockets: one list of services (`dydx_devnet.node.SERVICES`) behind both
transports (x/accountplus was once served over gRPC only, and the official TypeScript client's
`getAuthenticators` failed with "unknown query path")."""

from __future__ import annotations

import base64
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pool
from tests.devnet.integration.cometrpc_kit import TIMEOUT, call
from tests.devnet.unit.txkit import wallet
from tests.fixtures.devnet import DevnetProcess
from v4_proto.dydxprotocol.accountplus import query_pb2 as ap_query
from v4_proto.dydxprotocol.accountplus import query_pb2_grpc as ap_grpc

from dydx_devnet import node

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
UNKNOWN_PATH = "unknown query path: unknown request"


async def abci(http: httpx.AsyncClient, url: str, path: str, request: Any) -> dict[str, Any]:
    params = {"path": path, "data": request.SerializeToString().hex()}
    out = await call(http, url, "abci_query", params)
    assert "error" not in out, out
    response: dict[str, Any] = out["result"]["response"]
    return response


async def test_every_grpc_path_is_routed_by_abci_query(
    devnet: DevnetProcess, http: httpx.AsyncClient
) -> None:
    pool = descriptor_pool.Default()
    paths = [
        f"/{name}/{m.name}"
        for _, _, name in node.SERVICES  # what the node's gRPC server serves
        for m in pool.FindServiceByName(name).methods
        if f"/{name}/{m.name}" != "/cosmos.tx.v1beta1.Service/BroadcastTx"
    ]
    assert "/dydxprotocol.accountplus.Query/GetAuthenticators" in paths
    unrouted = []
    for path in paths:
        # an empty request: the answer may be the method's error, but not an unknown path
        out = await call(http, devnet.rpc, "abci_query", {"path": path, "data": ""})
        if out["result"]["response"].get("log") == UNKNOWN_PATH:
            unrouted.append(path)
    assert unrouted == []
    # an unknown path still is one
    out = await call(http, devnet.rpc, "abci_query", {"path": "/dydxprotocol.nope.Query/X"})
    assert out["result"]["response"]["log"] == UNKNOWN_PATH


async def test_accountplus_over_abci_query_answers_what_grpc_answers(
    devnet: DevnetProcess, http: httpx.AsyncClient
) -> None:
    owner = wallet(2_131).address
    await devnet.fund(owner, "100")
    async with grpc.aio.insecure_channel(devnet.grpc) as ch:
        stub = ap_grpc.QueryStub(ch)
        cases: list[tuple[str, Any, Any]] = [
            ("Params", ap_query.QueryParamsRequest(), stub.Params),
            (
                "GetAuthenticators",
                ap_query.GetAuthenticatorsRequest(account=owner),
                stub.GetAuthenticators,
            ),
        ]
        for method, request, rpc in cases:
            path = f"/dydxprotocol.accountplus.Query/{method}"
            answer = await abci(http, devnet.rpc, path, request)
            expected = (await rpc(request, timeout=TIMEOUT)).SerializeToString()
            assert answer["value"] == base64.b64encode(expected).decode(), method
            assert answer["code"] == 0, answer
    # the keeper's INTERNAL error becomes sdk/6 with the gRPC error's text (gRPCErrorToSDKError)
    bad = await abci(
        http,
        devnet.rpc,
        "/dydxprotocol.accountplus.Query/GetAuthenticators",
        ap_query.GetAuthenticatorsRequest(account="nope"),
    )
    assert (bad["codespace"], bad["code"]) == ("sdk", 6)
    assert bad["log"].startswith("rpc error: code = Internal desc = ")
