"""The CometBFT RPC methods of one validator, and their parameters in both request forms.

Methods and parameter names are CometBFT 0.38's (`rpc/core/routes.go`); results are built in
`dydx_devnet.cometrpc.encode`. Errors are JSON-RPC error objects (`rpc/jsonrpc/types/types.go`):
a method's own failure is -32603 "Internal error" with the Go error text as ``data`` (that is how
`tx` answers a hash it does not know: ``tx (HASH) not found``, `rpc/core/tx.go`).

Parameters (`rpc/jsonrpc/server/http_json_handler.go`, `http_uri_handler.go`): in a JSON-RPC
body they are decoded like cmtjson does (int64 as a string, `[]byte` as base64, `HexBytes` as
hex); in the URI form (``GET /tx?hash=0x...``) integers are bare, byte strings are ``0x`` hex or
a quoted string, strings are quoted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

from v4_proto.cosmos.tx.v1beta1 import service_pb2 as tx_service

from dydx_devnet import errors as E
from dydx_devnet.cometrpc import abci, encode
from dydx_devnet.node_base import APP_VERSION
from dydx_devnet.tx import decode_tx, tx_hash

if TYPE_CHECKING:
    from dydx_devnet.cometrpc.feed import Feed
    from dydx_devnet.host import DevnetHost

APP_NAME = abci.APP_NAME  # protocol/app/app.go appName, what ResponseInfo.data carries

# name -> the parameters, in order, with their Go kinds
PARAMS: dict[str, tuple[tuple[str, str], ...]] = {
    "health": (),
    "status": (),
    "abci_info": (),
    "abci_query": (("path", "string"), ("data", "hex"), ("height", "int"), ("prove", "bool")),
    "broadcast_tx_sync": (("tx", "bytes"),),
    "broadcast_tx_async": (("tx", "bytes"),),
    "broadcast_tx_commit": (("tx", "bytes"),),
    "tx": (("hash", "bytes"), ("prove", "bool")),
    "block": (("height", "int"),),
    "block_results": (("height", "int"),),
}
WS_ONLY: dict[str, tuple[tuple[str, str], ...]] = {
    "subscribe": (("query", "string"),),
    "unsubscribe": (("query", "string"),),
    "unsubscribe_all": (),
}

_INT = re.compile(r"^-?[0-9]+$")
_GO_KINDS = {"int": "int64", "bool": "bool"}  # how Go's reflect names the kinds in errors


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: str = "") -> None:
        super().__init__(data or message)
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data:
            out["data"] = self.data
        return out


def internal(data: str) -> RpcError:
    return RpcError(-32603, "Internal error", data)


def invalid_params(data: str) -> RpcError:
    return RpcError(-32602, "Invalid params", data)


def method_not_found() -> RpcError:
    return RpcError(-32601, "Method not found")


class HttpFault(Exception):
    """A fault switch's answer at the HTTP level (the node or its gateway failing)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


# ---- parameters -----------------------------------------------------------------------------
def _json_value(kind: str, name: str, v: Any) -> Any:
    if v is None:
        return None
    if kind == "int":
        # cmtjson (`libs/json/decoder.go`): an int64 is a JSON string, never a bare number
        if isinstance(v, str) and _INT.match(v):
            return int(v)
        if isinstance(v, int | float) and not isinstance(v, bool):
            raise ValueError(f'invalid 64-bit integer encoding "{json.dumps(v)}", expected string')
        raise ValueError(f"{name}: expected an integer as a decimal string, got {v!r}")
    if kind == "bool":
        if isinstance(v, bool):
            return v
        raise ValueError(f"{name}: expected a boolean, got {v!r}")
    if not isinstance(v, str):
        raise ValueError(f"{name}: expected a string, got {v!r}")
    if kind == "bytes":
        try:
            return base64.b64decode(v, validate=True)
        except binascii.Error as e:
            raise ValueError(f"{name}: illegal base64 data: {e}") from None
    if kind == "hex":
        try:
            return bytes.fromhex(v)
        except ValueError as e:
            raise ValueError(f"{name}: encoding/hex: {e}") from None
    return v


def json_params(method: str, params: Any) -> dict[str, Any]:
    spec = PARAMS.get(method) or WS_ONLY.get(method) or ()
    if params is None:
        params = {}
    if isinstance(params, list):
        if len(params) != len(spec):
            raise ValueError(f"expected {len(spec)} parameters, got {len(params)}")
        params = {name: p for (name, _), p in zip(spec, params, strict=True)}
    if not isinstance(params, dict):
        raise ValueError("params must be an object or an array")
    return {name: _json_value(kind, name, params.get(name)) for name, kind in spec}


def uri_params(method: str, query: dict[str, str]) -> dict[str, Any]:
    """`http_uri_handler.go` httpParamsToArgs: a bare integer for an integer, ``0x`` hex or a
    quoted string for bytes; anything else is decoded as JSON, as in a JSON-RPC body."""
    out: dict[str, Any] = {}
    for name, kind in PARAMS.get(method, ()):
        arg = query.get(name, "")
        if not arg:
            out[name] = None
        elif kind == "int" and _INT.match(arg):
            out[name] = int(arg)
        elif arg.lower().startswith("0x"):
            if kind not in ("bytes", "hex", "string"):
                raise ValueError(f"got a hex string arg, but expected '{_GO_KINDS[kind]}'")
            raw = bytes.fromhex(arg[2:])
            out[name] = raw.decode() if kind == "string" else raw
        elif kind in ("bytes", "hex") and len(arg) >= 2 and arg[0] == arg[-1] == '"':
            out[name] = str(json.loads(arg)).encode()
        else:
            out[name] = _json_value(kind, name, json.loads(arg))
    return out


# ---- the methods ----------------------------------------------------------------------------
class Methods:
    """Validator ``index``'s methods; queries and CheckTx go through the gRPC servicers."""

    def __init__(self, devnet: DevnetHost, index: int, feed: Feed) -> None:
        self.devnet = devnet
        self.index = index
        self.feed = feed
        self.routes = abci.routes(devnet, index)
        self._broadcast = self.routes["/cosmos.tx.v1beta1.Service/BroadcastTx"]
        self.rpc_url = ""

    async def call(self, method: str, p: dict[str, Any]) -> Any:
        engine = self.devnet.engine
        if method == "health":
            return {}
        if method == "status":
            listen = self.devnet.grpc_targets[self.index]
            return encode.status(
                engine, self.index, listen_addr=f"tcp://{listen}", rpc_address=self.rpc_url
            )
        if method == "abci_info":
            h = self.devnet.state.height
            return {
                "response": {
                    "data": APP_NAME,
                    "version": APP_VERSION,
                    "app_version": str(encode.APP_PROTOCOL),
                    "last_block_height": str(h),
                    "last_block_app_hash": encode.b64(
                        encode.stand_in(self.devnet.state.chain_id, "app", h)
                    ),
                }
            }
        if method == "abci_query":
            response = await abci.query(
                self.routes,
                self.devnet.state.height,
                p["path"] or "",
                p["data"] or b"",
                p["height"] or 0,
                bool(p["prove"]),
            )
            return {"response": response}
        if method in ("broadcast_tx_sync", "broadcast_tx_async"):
            return await self._broadcast_tx(p["tx"] or b"", sync=method == "broadcast_tx_sync")
        if method == "broadcast_tx_commit":
            return await self._broadcast_tx_commit(p["tx"] or b"")
        if method == "tx":
            if not p["hash"]:
                # state/txindex/kv/kv.go Get: txindex.ErrorEmptyHash, before any lookup
                raise internal("transaction hash cannot be empty")
            wanted = p["hash"].hex().upper()
            ct = engine.committed_txs.get(wanted)
            if ct is None:
                raise internal(f"tx ({wanted}) not found")
            return encode.tx_result(engine, ct, prove=bool(p["prove"]))
        if method == "block":
            return encode.block(engine, self._height(p["height"]))
        if method == "block_results":
            return encode.block_results(engine, self._height(p["height"]))
        raise method_not_found()

    def _height(self, height: int | None) -> int:
        """`rpc/core/env.go` getHeight."""
        latest = self.devnet.state.height
        if height is None:
            return latest
        if height <= 0:
            raise internal(f"height must be greater than 0, but got {height}")
        if height > latest:
            raise internal(
                f"height {height} must be less than or equal to the current blockchain height "
                f"{latest}"
            )
        base = min(self.devnet.engine.block_times)
        if height < base:
            raise internal(f"height {height} is not available, lowest height is {base}")
        return height

    async def _check_tx(self, tx: bytes) -> tuple[str, int, str, str]:
        """CheckTx through the gRPC BroadcastTx servicer (its broadcast_* fault switches
        included); returns (hash, code, codespace, log)."""
        # An empty tx goes to CheckTx too (v0.38 `mempool/clist_mempool.go` CheckTx has no
        # emptiness check), which refuses it as it refuses any tx without messages.
        try:
            resp = await abci.call(self._broadcast, tx_service.BroadcastTxRequest(tx_bytes=tx))
        except abci.Aborted as e:
            # the node's broadcast path down, or its reply lost: the caller gets no answer
            raise HttpFault(503, f"devnet fault: {e.details}") from None
        r = resp.tx_response
        cache = E.ErrTxInMempoolCache
        if r.code == cache.code and r.codespace == cache.codespace:
            # CometBFT answers a tx its cache holds with an error, before the app sees it
            # (`mempool/clist_mempool.go` ErrTxInCache); the SDK's gRPC turns it into sdk/19.
            raise _TxInCache()
        return r.txhash, r.code, r.codespace, r.raw_log

    async def _broadcast_tx(self, tx: bytes, *, sync: bool) -> dict[str, Any]:
        """`ResultBroadcastTx` (`rpc/core/mempool.go`); async answers the hash alone."""
        try:
            h, code, codespace, log = await self._check_tx(tx)
        except _TxInCache:
            raise internal("tx already exists in cache") from None
        if not sync:
            code, codespace, log = 0, "", ""
        return {"code": code, "data": "", "log": log, "codespace": codespace, "hash": h}

    async def _broadcast_tx_commit(self, tx: bytes) -> dict[str, Any]:
        """`BroadcastTxCommit`: CheckTx, then wait for the block that delivers the tx, at most
        `timeout_broadcast_tx_commit`; a rejected tx answers at once with an empty tx_result
        and height 0; a timeout is an error (the result is dropped, `unreflectResult`)."""
        h = tx_hash(tx)
        fut = self.feed.wait_for(h)
        try:
            try:
                _, code, codespace, log = await self._check_tx(tx)
            except _TxInCache:
                raise internal("error on broadcastTxCommit: tx already exists in cache") from None
            check = _check_tx_result(tx, code, codespace, log)
            if code:
                # ResultBroadcastTxCommit's zero ExecTxResult, printed whole
                return {
                    "check_tx": check,
                    "tx_result": encode.abci_result(),
                    "hash": h,
                    "height": "0",
                }
            try:
                timeout = self.devnet.config.timeout_broadcast_tx_commit
                height = await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                raise internal("timed out waiting for tx to be included in a block") from None
        finally:
            self.feed.forget(h, fut)
        ct = self.devnet.engine.committed_txs[h]
        return {
            "check_tx": check,
            "tx_result": encode.exec_tx_result(ct),
            "hash": h,
            "height": str(height),
        }


def _check_tx_result(tx: bytes, code: int, codespace: str, log: str) -> dict[str, Any]:
    """`abci.ResponseCheckTx`, every field printed (`encode.abci_result`). The SDK's CheckTx
    reports the gas of runTx on success and failure alike (cosmos-sdk `baseapp/abci.go`
    CheckTx); the wanted gas is the one the devnet reports for the delivered tx
    (`encode.exec_tx_result`): the tx's gas limit, 0 when the bytes do not decode (runTx fails
    before the ante handler); gas used is 0."""
    try:
        gas_wanted = decode_tx(tx).gas_limit
    except E.TxError:
        gas_wanted = 0
    return encode.abci_result(code=code, log=log, gas_wanted=gas_wanted, codespace=codespace)


class _TxInCache(Exception):
    pass
