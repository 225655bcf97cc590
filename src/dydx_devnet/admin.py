"""The devnet's admin HTTP API, for tests and operators (not part of any real dYdX API).

Served on its own port (``--admin-port``, default 3010; 0 = a free port) under ``/devnet``; the
same routes are available as a FastAPI router (`build_admin_router`) for anyone who prefers to
mount them in another app.

- ``GET  /devnet/status``: height, block time, chain id, endpoints.
- ``POST /devnet/blocks?n=1``: commit ``n`` blocks now; returns the new height.
- ``POST /devnet/fund`` ``{"address", "subaccountNumber", "amount"}`` (USDC, a decimal string):
  deposit, creating the account if needed (the faucet uses the same engine method).
- ``GET  /devnet/orders[?owner=]``: every MsgPlaceOrder ever accepted by CheckTx, in order
  (proves that no order was placed twice).
- ``POST /devnet/oracle`` ``{"ticker", "price"}`` (a decimal string): publish that oracle price in
  the next block.
- ``POST /devnet/clob-pairs/{id}/status`` ``{"status": "ACTIVE" | "FINAL_SETTLEMENT" | ...}``.
- ``GET/POST /devnet/smart-account`` ``{"active": false}``: read or set x/accountplus's
  ``is_smart_account_active`` param (what governance's MsgSetActiveState sets), at once in the
  committed state and every validator's check state.
- ``GET/POST/DELETE /devnet/faults[?validator=i]``: read, set (JSON object of switches) or reset
  the fault switches (`dydx_devnet.faults.Faults`) of validator i, or of every validator (and the
  chain's and indexer's own switches) without ``validator``.
- ``GET  /devnet/validators``: each validator's gRPC address, mempool (tx hashes) and cache size.
- ``GET  /devnet/blocks/{height}``: a kept block's proposer, delivered txs and the short-term txs
  its proposer's memclob held (its operations).

Errors are ``{"errors": [{"msg": ...}]}`` with status 400/404, like the indexer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dydx_devnet.faults import NODE_SWITCHES
from dydx_devnet.model import ClobPairStatus

if TYPE_CHECKING:
    from dydx_devnet.host import DevnetHost


class FundRequest(BaseModel):
    address: str
    subaccount_number: int = Field(default=0, alias="subaccountNumber", ge=0, le=128_000)
    amount: str


class OracleRequest(BaseModel):
    ticker: str
    price: str


class StatusRequest(BaseModel):
    status: str


class SmartAccountRequest(BaseModel):
    """`MsgSetActiveState{active}` (`proto/dydxprotocol/accountplus/tx.proto`)."""

    active: bool = Field(strict=True)


def _error(status: int, msg: str) -> JSONResponse:
    return JSONResponse({"errors": [{"msg": msg}]}, status_code=status)


def build_admin_router(devnet: DevnetHost) -> APIRouter:
    router = APIRouter(prefix="/devnet")

    @router.get("/status")
    async def status() -> dict[str, Any]:
        st = devnet.state
        return {
            "chainId": st.chain_id,
            "height": st.height,
            "time": st.block_time.isoformat().replace("+00:00", "Z"),
            "grpc": devnet.grpc_target,
            "validators": devnet.grpc_targets,
            "rpc": devnet.rpc_urls,
            "gossipDelay": devnet.config.gossip_delay,
            "indexer": devnet.indexer_url,
            "ws": devnet.ws_url,
            "marketMaker": devnet.engine.market_maker,
        }

    @router.post("/blocks")
    async def blocks(n: int = Query(default=1, ge=1, le=1000)) -> dict[str, Any]:
        height = devnet.step_blocks(n)
        return {"height": height}

    @router.post("/fund", response_model=None)
    async def fund(req: FundRequest) -> dict[str, Any] | JSONResponse:
        try:
            amount = Decimal(req.amount)
        except InvalidOperation:
            return _error(400, f"amount {req.amount!r} is not a decimal number")
        if not amount.is_finite() or amount <= 0:
            return _error(400, "amount must be a positive decimal")
        try:
            sid = devnet.engine.fund(req.address, req.subaccount_number, amount)
        except ValueError as e:
            return _error(400, str(e))
        sub = devnet.state.subaccount(sid.owner, sid.number)
        assert sub is not None
        return {
            "address": sid.owner,
            "subaccountNumber": sid.number,
            "usdc": str(Decimal(sub.usdc_quantums).scaleb(-6)),
        }

    @router.get("/orders")
    async def orders(owner: str | None = None) -> dict[str, Any]:
        out = [
            {
                "owner": a.order_id.subaccount_id.owner,
                "subaccountNumber": a.order_id.subaccount_id.number,
                "clientId": a.order_id.client_id,
                "orderFlags": a.order_id.order_flags,
                "clobPairId": a.order_id.clob_pair_id,
                "goodTilBlock": a.good_til_block or None,
                "goodTilBlockTime": a.good_til_block_time or None,
                "side": a.side.name,
                "quantums": str(a.quantums),
                "subticks": str(a.subticks),
                "txHash": a.tx_hash,
                "height": a.height,
                "validator": a.validator,
            }
            for a in devnet.engine.accepted_orders
            if owner is None or a.order_id.subaccount_id.owner == owner
        ]
        return {"orders": out}

    @router.post("/oracle", response_model=None)
    async def oracle(req: OracleRequest) -> dict[str, Any] | JSONResponse:
        market = devnet.state.market_by_ticker(req.ticker)
        if market is None:
            return _error(404, f"unknown ticker {req.ticker}")
        try:
            human = Decimal(req.price)
        except InvalidOperation:
            return _error(400, f"price {req.price!r} is not a decimal number")
        exponent = market.market_param.exponent
        raw = human.scaleb(-exponent)
        if not raw.is_finite() or raw <= 0 or raw != raw.to_integral_value():
            return _error(400, f"price must be a positive multiple of 1e{exponent}")
        devnet.engine.set_oracle_price(market.market_param.id, int(raw))
        return {
            "ticker": req.ticker,
            "price": str(human),
            "effectiveAtHeight": devnet.state.height + 1,
        }

    @router.post("/clob-pairs/{clob_pair_id}/status", response_model=None)
    async def clob_status(clob_pair_id: int, req: StatusRequest) -> dict[str, Any] | JSONResponse:
        name = req.status.removeprefix("STATUS_")
        if name not in ClobPairStatus.__members__ or name == "UNSPECIFIED":
            return _error(400, f"unknown status {req.status}")
        try:
            devnet.engine.set_clob_pair_status(clob_pair_id, ClobPairStatus[name])
        except KeyError:
            return _error(404, f"unknown clob pair {clob_pair_id}")
        return {"clobPairId": clob_pair_id, "status": f"STATUS_{name}"}

    @router.get("/smart-account")
    async def get_smart_account() -> dict[str, Any]:
        return {"active": devnet.state.authenticators.smart_account_active}

    @router.post("/smart-account")
    async def set_smart_account(req: SmartAccountRequest) -> dict[str, Any]:
        devnet.engine.set_smart_account_active(req.active)
        return {"active": devnet.state.authenticators.smart_account_active}

    def faults_of(validator: int | None) -> dict[str, Any]:
        if validator is not None:
            return devnet.node_faults[validator].as_dict()
        # every validator's switches were set alike: show validator 0's, as they count down
        out = devnet.faults.as_dict()
        node = devnet.node_faults[0].as_dict()
        out.update({k: node[k] for k in NODE_SWITCHES})
        return out

    def bad_validator(validator: int | None) -> JSONResponse | None:
        if validator is not None and not 0 <= validator < len(devnet.node_faults):
            return _error(404, f"no validator {validator}")
        return None

    @router.get("/faults", response_model=None)
    async def get_faults(validator: int | None = None) -> dict[str, Any] | JSONResponse:
        return bad_validator(validator) or faults_of(validator)

    @router.post("/faults", response_model=None)
    async def set_faults(
        values: dict[str, Any], validator: int | None = None
    ) -> dict[str, Any] | JSONResponse:
        bad = bad_validator(validator)
        if bad is not None:
            return bad
        try:
            devnet.set_faults(values, validator)
        except KeyError as e:
            return _error(400, f"unknown fault switch {e.args[0]}")
        except (TypeError, ValueError) as e:
            return _error(400, str(e))
        await devnet.apply_faults()
        return faults_of(validator)

    @router.delete("/faults", response_model=None)
    async def reset_faults(validator: int | None = None) -> dict[str, Any] | JSONResponse:
        bad = bad_validator(validator)
        if bad is not None:
            return bad
        devnet.reset_faults(validator)
        await devnet.apply_faults()
        return faults_of(validator)

    @router.get("/validators")
    async def validators() -> dict[str, Any]:
        return {
            "validators": [
                {
                    "index": v.index,
                    "grpc": devnet.grpc_targets[v.index],
                    "rpc": devnet.rpc_urls[v.index] if devnet.rpc_urls else None,
                    "mempool": [t.hash for t in v.mempool],
                    "cacheSize": len(v.mempool_cache),
                }
                for v in devnet.engine.validators
            ]
        }

    @router.get("/blocks/{height}", response_model=None)
    async def block(height: int) -> dict[str, Any] | JSONResponse:
        b = devnet.engine.blocks.get(height)
        if b is None:
            return _error(404, f"block {height} not kept")
        return {
            "height": b.height,
            "proposer": b.proposer,
            "txs": list(b.txs),
            "operations": list(b.operations),
        }

    return router


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The devnet's owner handles signals; uvicorn must not install its own.
        yield


class AdminServer:
    def __init__(self, devnet: DevnetHost) -> None:
        self.app = FastAPI(title="dydx-devnet admin", docs_url=None, redoc_url=None)
        self.app.include_router(build_admin_router(devnet))
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> int:
        # proto IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY only on sockets whose proto says
        # TCP (base_events._set_nodelay); without it Nagle + delayed ACK add ~40 ms per request.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound: int = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="devnet-admin")
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
