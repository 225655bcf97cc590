"""`abci_query` by gRPC path, answered by the very servicers the gRPC server uses.

On a Cosmos SDK node, `abci_query` with a path such as ``/cosmos.auth.v1beta1.Query/Account``
goes to the app's gRPC query router (cosmos-sdk `baseapp/abci.go` Query, `handleQueryGRPC`;
`baseapp/grpcrouter.go`): the data is the protobuf request, the value the protobuf response, the
height the query's (the latest when 0). A gRPC error becomes an SDK error (`gRPCErrorToSDKError`:
NotFound -> sdk/22 key not found, InvalidArgument and FailedPrecondition -> sdk/18, Unauthenticated
-> sdk/4, anything else -> sdk/6) whose log is ``"rpc error: code = X desc = D: <message>"``;
CosmJS's `StargateClient.getAccount` relies on that text ("rpc error: code = NotFound") to answer
null for an unknown account.

Here every route calls the servicer method of `dydx_devnet.node` / `node_queries` with a context
whose ``abort`` raises instead of ending a gRPC call, so both transports share one implementation.
The node's fault switches are applied once, by the RPC transport (`Base.gate` skips them for this
context).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from dydx_devnet import errors as E
from dydx_devnet.cometrpc.encode import b64
from dydx_devnet.node import SERVICES

if TYPE_CHECKING:
    from dydx_devnet.host import DevnetHost
    from dydx_devnet.node_base import Base

# cosmos-sdk types/errors/errors.go
ErrUnknownRequest = E.Registered("sdk", 6, "unknown request")
ErrKeyNotFound = E.Registered("sdk", 22, "key not found")
ErrInvalidHeight = E.Registered("sdk", 26, "invalid height")

# store/iavl/store.go GetImmutable: a version the store does not have (pruned, or never kept).
PRUNED_VERSION = (
    "version mismatch on immutable IAVL tree; version does not exist. Version has either been "
    "pruned, or is for a future block height"
)
# protocol/app/app.go appName: BaseApp.Name(), named by the "not ready" refusal.
APP_NAME = "dydxprotocol"

# baseapp.QueryPathBroadcastTx: refused by Query ("can't route a broadcast tx message").
BROADCAST_TX_PATH = "/cosmos.tx.v1beta1.Service/BroadcastTx"

# gRPC status names as Go prints them (`codes.Code.String()`).
_GO_CODE_NAMES = {c: "".join(w.capitalize() for w in c.name.split("_")) for c in grpc.StatusCode}
_GO_CODE_NAMES[grpc.StatusCode.OK] = "OK"


class Aborted(Exception):
    """A servicer ended the call with a gRPC status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details

    def go_error(self) -> str:
        """The error's text as grpc-go's `status.Error` prints it."""
        return f"rpc error: code = {_GO_CODE_NAMES[self.code]} desc = {self.details}"


class CallContext:
    """What a servicer needs of a `grpc.aio.ServicerContext`, for calls that come over RPC.
    ``faults_applied`` tells `Base.gate` that the RPC transport already applied the switches."""

    faults_applied = True

    def __init__(self) -> None:
        self._code = grpc.StatusCode.UNKNOWN
        self._details = ""

    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise Aborted(code, details)

    def set_code(self, code: grpc.StatusCode) -> None:  # generated bases: UNIMPLEMENTED
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def unimplemented(self) -> Aborted:
        return Aborted(self._code, self._details or "Method not implemented!")


@dataclass(frozen=True, slots=True)
class Route:
    servicer: Base
    method: str
    request: Any  # the request message class


def routes(devnet: DevnetHost, index: int) -> dict[str, Route]:
    """Every gRPC method of the node (`dydx_devnet.node.SERVICES`, the list its gRPC server
    serves), by its full path, bound to validator ``index``."""
    out: dict[str, Route] = {}
    pool = descriptor_pool.Default()
    for cls, _, name in SERVICES:
        servicer = cls(devnet, index)
        service = pool.FindServiceByName(name)
        for m in service.methods:
            request = message_factory.GetMessageClass(m.input_type)
            out[f"/{service.full_name}/{m.name}"] = Route(servicer, m.name, request)
    return out


async def call(route: Route, request: Any) -> Any:
    """Call the servicer; raises Aborted with the status it ended the call with."""
    ctx = CallContext()
    try:
        return await getattr(route.servicer, route.method)(request, ctx)
    except NotImplementedError:
        raise ctx.unimplemented() from None


def _sdk_error(e: Aborted) -> E.TxError:
    """cosmos-sdk `gRPCErrorToSDKError`."""
    registered = {
        grpc.StatusCode.NOT_FOUND: ErrKeyNotFound,
        grpc.StatusCode.INVALID_ARGUMENT: E.ErrInvalidRequest,
        grpc.StatusCode.FAILED_PRECONDITION: E.ErrInvalidRequest,
        grpc.StatusCode.UNAUTHENTICATED: E.ErrUnauthorized,
    }.get(e.code, ErrUnknownRequest)
    return registered.wrap(e.go_error())


def response_query(
    *,
    code: int = 0,
    log: str = "",
    value: bytes | None = None,
    height: int = 0,
    codespace: str = "",
) -> dict[str, Any]:
    """`abci.ResponseQuery` as CometBFT prints it: its MarshalJSON (`abci/types/types.go`) is
    gogo jsonpb with EmitDefaults, so every field is there (int64s as strings, nil bytes and
    the nil proof as null, ``proofOps`` by its proto json_name)."""
    return {
        "code": code,
        "log": log,
        "info": "",
        "index": "0",
        "key": None,
        "value": None if value is None else b64(value),
        "proofOps": None,
        "height": str(height),
        "codespace": codespace,
    }


def _result(err: E.TxError, height: int = 0) -> dict[str, Any]:
    """`sdkerrors.QueryResult`: codespace, code, log; the height once the query context has
    one."""
    return response_query(code=err.code, log=err.raw_log, height=height, codespace=err.codespace)


def _context_error(latest: int, height: int, prove: bool) -> E.TxError | None:
    """cosmos-sdk v0.50 `BaseApp.CreateQueryContext`'s refusals, in its order. The devnet keeps
    only the latest state, so an older height is a version its store no longer has: the error
    a node answers for a pruned height (`store/rootmulti` CacheMultiStoreWithVersion ->
    `store/iavl` GetImmutable)."""
    if height < 0:
        return E.ErrInvalidRequest.wrap(
            "cannot query with height < 0; please provide a valid height"
        )
    if latest == 0:
        return ErrInvalidHeight.wrap(f"{APP_NAME} is not ready; please wait for first block")
    if height > latest:
        return ErrInvalidHeight.wrap(
            "cannot query with height in the future; please provide a valid height"
        )
    if height <= 1 and prove:
        return E.ErrInvalidRequest.wrap(
            "cannot query with proof when height <= 1; please provide a valid height"
        )
    if height != latest:
        return E.ErrInvalidRequest.wrap(
            f"failed to load state at height {height}; {PRUNED_VERSION} (latest height: {latest})"
        )
    return None


async def query(
    table: dict[str, Route],
    latest: int,
    path: str,
    data: bytes,
    height: int,
    prove: bool = False,
) -> dict[str, Any]:
    """The `ResponseQuery` (JSON) of `abci_query` (cosmos-sdk BaseApp.Query: the height checks
    belong to the gRPC route's query context, so an unroutable path is refused first)."""
    height = height or latest
    if path == BROADCAST_TX_PATH:
        return _result(E.ErrInvalidRequest.wrap("can't route a broadcast tx message"))
    route = table.get(path)
    if route is None:
        # SplitABCIQueryPath: "" has no segment; /app, /store and /p2p are not served here.
        detail = "no query path provided" if path == "" else "unknown query path"
        return _result(ErrUnknownRequest.wrap(detail))
    refused = _context_error(latest, height, prove)
    if refused is not None:
        return _result(refused)
    try:
        request = route.request.FromString(data)
    except DecodeError as e:
        return _result(E.ErrInvalidRequest.wrap(str(e)), height)
    try:
        response = await call(route, request)
    except Aborted as e:
        return _result(_sdk_error(e), height)
    # the SDK's codec marshals into a fresh (non-nil) slice: an empty response is "", not null
    return response_query(value=response.SerializeToString(), height=height)
