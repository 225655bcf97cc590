"""The HTTP and websocket server of one validator's CometBFT RPC (Starlette on uvicorn).

Routes, as CometBFT's `rpc/jsonrpc/server` serves them (`http_server.go`, `http_json_handler.go`,
`http_uri_handler.go`, `ws_handler.go`):

- ``POST /``: JSON-RPC 2.0, one request or a batch (a batch of one answers a single object);
  requests without an id are notifications and get no answer; HTTP 200 whatever the result.
  A body that is not JSON, or a request that does not unmarshal (an id neither string nor number:
  `dydx_devnet.cometrpc.envelope`), answers 500 with a -32700 parse error; an empty body lists
  the routes.
- ``GET|POST /<method>?arg=...``: the URI form; id -1; 200 with the result, 500 with the error.
- ``/websocket``: JSON-RPC over a websocket: every method, plus ``subscribe``/``unsubscribe``/
  ``unsubscribe_all``. Events come as responses carrying the subscribe request's id
  (`rpc/core/events.go`).

Fault switches (validator ``index``'s, `dydx_devnet.faults`): ``grpc_latency_s`` delays every
request; ``grpc_unavailable`` answers HTTP 503 (and refuses websocket handshakes);
``grpc_error`` answers the HTTP status a gateway maps that gRPC status to (grpc-gateway
`runtime.HTTPStatusFromCode`, e.g. RESOURCE_EXHAUSTED -> 429); ``grpc_refuse_connections`` closes
the port (`Devnet.apply_faults`); the ``broadcast_*`` switches act inside the BroadcastTx servicer
both transports share (``broadcast_unavailable`` and ``broadcast_reply_lost`` answer 503 here).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import grpc
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from dydx_devnet.cometrpc import envelope
from dydx_devnet.cometrpc import feed as feed_mod
from dydx_devnet.cometrpc.methods import (
    PARAMS,
    WS_ONLY,
    HttpFault,
    Methods,
    RpcError,
    internal,
    invalid_params,
    json_params,
    method_not_found,
    uri_params,
)

if TYPE_CHECKING:
    from dydx_devnet.cometrpc.feed import Feed
    from dydx_devnet.host import DevnetHost

# canonical query -> (the subscribe request's id, the query as written, its conditions)
Subscriptions = dict[str, tuple[Any, str, list[tuple[str, str]]]]
# dYdX validators allow every origin (v4-chain `protocol/cmd/dydxprotocold/cmd/config.go`:
# CORSAllowedOrigins ["*"]) with CometBFT's default methods and headers (`config/config.go`
# DefaultRPCConfig), which node/node.go hands to rs/cors.
CORS: dict[str, Any] = {
    "allow_origins": ["*"],
    "allow_methods": ["HEAD", "GET", "POST"],
    "allow_headers": ["Origin", "Accept", "Content-Type", "X-Requested-With", "X-Server-Time"],
}
_S = grpc.StatusCode
# grpc-gateway runtime/errors.go HTTPStatusFromCode
HTTP_STATUS = {
    _S.CANCELLED: 499, _S.UNKNOWN: 500, _S.INVALID_ARGUMENT: 400, _S.DEADLINE_EXCEEDED: 504,
    _S.NOT_FOUND: 404, _S.ALREADY_EXISTS: 409, _S.PERMISSION_DENIED: 403,
    _S.UNAUTHENTICATED: 401, _S.RESOURCE_EXHAUSTED: 429, _S.FAILED_PRECONDITION: 400,
    _S.ABORTED: 409, _S.OUT_OF_RANGE: 400, _S.UNIMPLEMENTED: 501, _S.INTERNAL: 500,
    _S.UNAVAILABLE: 503, _S.DATA_LOSS: 500,
}  # fmt: skip


def _json(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def _ok(rid: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def _err(rid: Any, e: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": e.body()}


def _params(method: str, req: dict[str, Any], *, ws: bool) -> dict[str, Any]:
    """The params of a JSON-RPC request. Bad params are -32602 over HTTP
    (`http_json_handler.go` RPCInvalidParamsError) but -32603 on the websocket
    (`ws_handler.go` readRoutine answers RPCInternalError)."""
    try:
        return json_params(method, req.get("params"))
    except ValueError as e:
        text = f"error converting json params to arguments: {e}"
        raise (internal(text) if ws else invalid_params(text)) from None


def _parse_error(e: Exception) -> dict[str, Any]:
    """`types.RPCParseError`: no id (omitempty)."""
    err = RpcError(-32700, "Parse error. Invalid JSON", f"error unmarshaling request: {e}")
    return {"jsonrpc": "2.0", "error": err.body()}


class RpcApp:
    """Validator ``index``'s RPC routes."""

    def __init__(self, devnet: DevnetHost, index: int, feed: Feed) -> None:
        self.devnet = devnet
        self.index = index
        self.feed = feed
        self.methods = Methods(devnet, index, feed)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.jsonrpc, methods=["POST", "GET"]),
                WebSocketRoute("/websocket", self.websocket),
                Route("/{method}", self.uri, methods=["GET", "POST"]),
            ],
            middleware=[Middleware(CORSMiddleware, **CORS)],
        )

    async def gate(self) -> None:
        f = self.devnet.node_faults[self.index]
        if f.grpc_latency_s > 0:
            await asyncio.sleep(f.grpc_latency_s)
        if f.grpc_unavailable:
            raise HttpFault(503, "devnet fault: node unavailable")
        chosen = f.take_grpc_error() if f.grpc_error is not None else None
        if chosen is not None:
            raise HttpFault(HTTP_STATUS.get(chosen.code, 500), f"devnet fault: {chosen.message}")

    async def _one(self, req: dict[str, Any], *, ws: bool = False) -> dict[str, Any]:
        """A request `envelope` read (a string or integer id)."""
        rid = req["id"]
        method = req.get("method")
        try:
            if method not in PARAMS:
                raise method_not_found()
            p = _params(method, req, ws=ws)
            return _ok(rid, await self.methods.call(method, p))
        except RpcError as e:
            return _err(rid, e)

    async def jsonrpc(self, request: Request) -> Response:
        body = await request.body()
        if not body:
            links = "".join(f"<a href='/{m}'>/{m}</a><br>" for m in sorted(PARAMS))
            return HTMLResponse(f"<html><body>Available endpoints:<br>{links}</body></html>")
        try:
            reqs = envelope.requests(envelope.loads(body))
        except (ValueError, envelope.ParseError) as e:
            return _json(_parse_error(e), 500)
        try:
            await self.gate()
            out = [await self._one(q) for q in reqs]
        except HttpFault as f:
            return PlainTextResponse(f.text, status_code=f.status)
        if not out:
            return Response(status_code=200)
        return _json(out[0] if len(out) == 1 else out)

    async def uri(self, request: Request) -> Response:
        method = request.path_params["method"]
        if method in WS_ONLY:
            return _json(_err(-1, method_not_found()), 404)
        if method not in PARAMS:
            return PlainTextResponse("404 page not found", status_code=404)
        try:
            await self.gate()
            try:
                p = uri_params(method, dict(request.query_params))
            except ValueError as e:
                err = invalid_params(f"error converting http params to arguments: {e}")
                return _json(_err(-1, err), 500)
            return _json(_ok(-1, await self.methods.call(method, p)))
        except RpcError as e:
            return _json(_err(-1, e), 500)
        except HttpFault as f:
            return PlainTextResponse(f.text, status_code=f.status)

    async def websocket(self, ws: WebSocket) -> None:
        if self.devnet.node_faults[self.index].grpc_unavailable:
            await ws.close()  # before accept: the handshake is refused (HTTP 403)
            return
        await ws.accept()
        subs: Subscriptions = {}
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def listener(events: dict[str, list[str]], data: dict[str, Any]) -> None:
            for sid, query, conditions in list(subs.values()):
                if feed_mod.matches(conditions, events):
                    result = {"query": query, "data": data, "events": events}
                    outbox.put_nowait(_ok(sid, result))

        async def writer() -> None:
            while True:
                await ws.send_text(json.dumps(await outbox.get()))

        self.feed.add_listener(listener)
        writing = asyncio.create_task(writer(), name="cometrpc-ws-writer")
        try:
            while True:
                text = await ws.receive_text()
                reply = await self._ws_request(text, subs)
                if reply is not None:
                    outbox.put_nowait(reply)
        except WebSocketDisconnect:
            pass
        finally:
            self.feed.remove_listener(listener)
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writing

    async def _ws_request(self, text: str, subs: Subscriptions) -> dict[str, Any] | None:
        try:
            req = envelope.single(envelope.loads(text, stream=True))
        except (ValueError, envelope.ParseError) as e:
            return _parse_error(e)
        if req is None:
            return None
        rid, method = req["id"], req.get("method")
        try:
            await self.gate()
        except HttpFault as f:
            return _err(rid, internal(f.text))
        if method not in WS_ONLY:
            return await self._one(req, ws=True)
        try:
            return _ok(rid, _subscription(method, _params(method, req, ws=True), rid, subs))
        except RpcError as e:
            return _err(rid, e)


def _subscription(method: str, p: dict[str, Any], rid: Any, subs: Subscriptions) -> Any:
    """subscribe / unsubscribe / unsubscribe_all of one connection (`rpc/core/events.go`).
    Subscriptions are keyed by the canonical query (`feed.canonical`), as pubsub keys them;
    events carry the query as the client wrote it (ResultEvent.Query)."""
    query = p.get("query") or ""
    if method == "subscribe":
        try:
            conditions = feed_mod.parse_query(query)
        except ValueError as e:
            raise internal(str(e)) from None
        key = feed_mod.canonical(query)
        if key in subs:
            raise internal("already subscribed")  # libs/pubsub ErrAlreadySubscribed
        subs[key] = (rid, query, conditions)
    elif method == "unsubscribe":
        try:
            key = feed_mod.canonical(query)  # Unsubscribe parses first (cmtquery.New)
        except ValueError as e:
            raise internal(str(e)) from None
        if subs.pop(key, None) is None:
            raise internal("subscription not found")  # libs/pubsub ErrSubscriptionNotFound
    else:
        if not subs:
            # pubsub.go UnsubscribeAll: a client with no subscription is not found either
            raise internal("subscription not found")
        subs.clear()
    return {}


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the devnet's owner handles signals


class RpcServer:
    """uvicorn serving one validator's `RpcApp` on its own port."""

    def __init__(self, rpc: RpcApp) -> None:
        self.rpc = rpc
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        # proto IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets whose proto says TCP.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound: int = sock.getsockname()[1]
        config = uvicorn.Config(
            self.rpc.app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="websockets-sansio",
            timeout_graceful_shutdown=1,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="cometrpc")
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return bound

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = None
        self._task = None
