"""The devnet's node: the gRPC services the official clients and the router call.

Served (request/response types are the official `v4_proto` ones):

- `cosmos.tx.v1beta1.Service`: BroadcastTx (SYNC semantics for every mode: the CheckTx result),
  Simulate (``tx_bytes`` or the deprecated ``tx``), GetTx (committed stateful txs only: a
  short-term order tx is never in a block, v4-chain
  `protocol/app/process/utils_disallow_msgs.go`);
- `cosmos.auth.v1beta1.Query/Account` (BaseAccount packed in Any; NOT_FOUND when unknown);
- `cosmos.bank.v1beta1.Query/AllBalances`, `/Balance` (the devnet keeps funds in subaccounts only,
  so bank balances are empty);
- `cosmos.base.tendermint.v1beta1.Service`: GetLatestBlock, GetBlockByHeight, GetNodeInfo,
  GetSyncing;
- `dydxprotocol.clob.Query`: ClobPair, ClobPairAll, BlockRateLimitConfiguration,
  EquityTierLimitConfiguration;
- `dydxprotocol.perpetuals.Query`: Perpetual, AllPerpetuals, AllLiquidityTiers;
- `dydxprotocol.prices.Query`: MarketPrice, AllMarketPrices, MarketParam, AllMarketParams;
- `dydxprotocol.subaccounts.Query`: Subaccount, SubaccountAll (amounts as SerializableInt bytes,
  v4-chain `protocol/dtypes/serializable_int.go`; an unknown subaccount reads as empty, as on the
  chain);
- `dydxprotocol.feetiers.Query`: PerpetualFeeParams, UserFeeTier;
- `dydxprotocol.accountplus.Query`: GetAuthenticators, GetAuthenticator, Params
  (`dydx_devnet.accountplus.query`).

The same list (`SERVICES`) answers CometBFT RPC's `abci_query` by path (`dydx_devnet.cometrpc`).

Each validator serves these on its own port (``NodeServer(devnet, index)``): BroadcastTx runs
that validator's CheckTx; queries answer from the committed state, which every validator shares.
Every method first consults that validator's fault switches (`dydx_devnet.faults`). The transport
is grpc.aio, the reference implementation (the official Python client makes blocking gRPC calls,
so it must not share the devnet's event loop: v4-client-py-v2 `dydx_v4_client/network.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_grpc
from v4_proto.cosmos.bank.v1beta1 import query_pb2_grpc as bank_grpc
from v4_proto.cosmos.base.abci.v1beta1 import abci_pb2
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc
from v4_proto.cosmos.base.tendermint.v1beta1 import types_pb2 as tm_sdk_types
from v4_proto.cosmos.tx.v1beta1 import service_pb2 as tx_service
from v4_proto.cosmos.tx.v1beta1 import service_pb2_grpc as tx_grpc
from v4_proto.cosmos.tx.v1beta1 import tx_pb2
from v4_proto.dydxprotocol.accountplus import query_pb2_grpc as accountplus_grpc
from v4_proto.dydxprotocol.clob import query_pb2_grpc as clob_grpc
from v4_proto.dydxprotocol.feetiers import query_pb2_grpc as fee_grpc
from v4_proto.dydxprotocol.perpetuals import query_pb2_grpc as perp_grpc
from v4_proto.dydxprotocol.prices import query_pb2_grpc as prices_grpc
from v4_proto.dydxprotocol.subaccounts import query_pb2_grpc as sa_grpc
from v4_proto.tendermint.p2p import types_pb2 as p2p_types
from v4_proto.tendermint.types import block_pb2, types_pb2
from v4_proto.tendermint.version import types_pb2 as version_types

from dydx_devnet.accountplus.query import AccountplusQuery
from dydx_devnet.errors import TxError

if TYPE_CHECKING:
    from dydx_devnet.host import DevnetHost

import bech32

from dydx_devnet.engine import validator_address
from dydx_devnet.node_base import APP_VERSION, Base, rfc3339, timestamp
from dydx_devnet.node_queries import (
    AuthQuery,
    BankQuery,
    ClobQuery,
    FeeTiersQuery,
    PerpetualsQuery,
    PricesQuery,
    SubaccountsQuery,
)


def bech32_valcons(address: bytes) -> str:
    """The consensus address as the SDK's Header prints it (`sdk.ConsAddress.String()`)."""
    if not address:
        return ""
    words = bech32.convertbits(address, 8, 5)
    assert words is not None
    return str(bech32.bech32_encode("dydxvalcons", words))


class TxService(Base, tx_grpc.ServiceServicer):  # type: ignore[misc]
    async def BroadcastTx(
        self, request: tx_service.BroadcastTxRequest, context: Any
    ) -> tx_service.BroadcastTxResponse:
        await self.gate(context)
        faults = self.faults
        if faults.broadcast_unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "devnet fault: broadcast path down")
        fault = faults.take_broadcast_error() if faults.broadcast_error is not None else None
        engine = self.devnet.engine
        if fault is not None:
            h = hashlib.sha256(request.tx_bytes).hexdigest().upper()
            resp = abci_pb2.TxResponse(
                txhash=h, codespace=fault.codespace, code=fault.code, raw_log=fault.raw_log
            )
            return tx_service.BroadcastTxResponse(tx_response=resp)
        r = engine.broadcast(self.index, request.tx_bytes)
        if faults.broadcast_reply_lost is not None and faults.take_reply_lost():
            # CheckTx ran and the tx stays with this validator (mempool, gossip); only the reply
            # is lost on its way back.
            await context.abort(grpc.StatusCode.UNAVAILABLE, "devnet fault: reply lost")
        # CometBFT's broadcast_tx_sync result carries no gas and no height (`ResultBroadcastTx`).
        resp = abci_pb2.TxResponse(
            txhash=r.tx_hash, codespace=r.codespace, code=r.code, raw_log=r.raw_log
        )
        return tx_service.BroadcastTxResponse(tx_response=resp)

    async def Simulate(
        self, request: tx_service.SimulateRequest, context: Any
    ) -> tx_service.SimulateResponse:
        await self.gate(context)
        tx_bytes = request.tx_bytes or (
            request.tx.SerializeToString() if request.HasField("tx") else b""
        )
        if not tx_bytes:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "empty txBytes is not allowed")
        try:
            gas_used = self.devnet.engine.simulate(tx_bytes)
        except TxError as e:
            await context.abort(grpc.StatusCode.UNKNOWN, e.raw_log)
        return tx_service.SimulateResponse(
            gas_info=abci_pb2.GasInfo(gas_wanted=0, gas_used=gas_used),
            result=abci_pb2.Result(),
        )

    async def GetTx(
        self, request: tx_service.GetTxRequest, context: Any
    ) -> tx_service.GetTxResponse:
        await self.gate(context)
        h = request.hash.upper()
        ct = self.devnet.engine.committed_txs.get(h)
        if ct is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"tx not found: {request.hash}")
        assert ct is not None
        tx = tx_pb2.Tx.FromString(ct.tx_bytes)
        resp = abci_pb2.TxResponse(
            height=ct.height,
            txhash=ct.hash,
            codespace=ct.codespace,
            code=ct.code,
            raw_log=ct.raw_log,
            gas_wanted=ct.gas_wanted,
            gas_used=0,
            tx=AnyProto(type_url="/cosmos.tx.v1beta1.Tx", value=ct.tx_bytes),
            timestamp=rfc3339(ct.time_ms),
        )
        return tx_service.GetTxResponse(tx=tx, tx_response=resp)


class TendermintService(Base, tm_grpc.ServiceServicer):  # type: ignore[misc]
    def _block(self, height: int) -> tuple[Any, Any, Any]:
        engine = self.devnet.engine
        time_ms = engine.block_times.get(height)
        if time_ms is None:
            raise KeyError(height)
        record = engine.blocks.get(height)
        block_hash = engine.block_hash(height)
        prev = engine.block_hash(height - 1) if height > 1 else b""
        header = types_pb2.Header(
            version=version_types.Consensus(block=11, app=9),
            chain_id=self.state.chain_id,
            height=height,
            time=timestamp(time_ms),
            last_block_id=types_pb2.BlockID(hash=prev),
            proposer_address=validator_address(record.proposer) if record else b"",
        )
        block_id = types_pb2.BlockID(
            hash=block_hash, part_set_header=types_pb2.PartSetHeader(total=1, hash=block_hash)
        )
        block = block_pb2.Block(header=header)
        sdk_header = tm_sdk_types.Header(
            version=header.version,
            chain_id=header.chain_id,
            height=height,
            time=header.time,
            last_block_id=header.last_block_id,
            proposer_address=bech32_valcons(header.proposer_address),
        )
        sdk_block = tm_sdk_types.Block(header=sdk_header)
        return block_id, block, sdk_block

    async def GetLatestBlock(
        self, request: tm_query.GetLatestBlockRequest, context: Any
    ) -> tm_query.GetLatestBlockResponse:
        await self.gate(context)
        block_id, block, sdk_block = self._block(self.state.height)
        return tm_query.GetLatestBlockResponse(block_id=block_id, block=block, sdk_block=sdk_block)

    async def GetBlockByHeight(
        self, request: tm_query.GetBlockByHeightRequest, context: Any
    ) -> tm_query.GetBlockByHeightResponse:
        await self.gate(context)
        if request.height > self.state.height:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "requested block height is bigger then the chain length",
            )
        try:
            block_id, block, sdk_block = self._block(request.height)
        except KeyError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"block {request.height} not kept")
        return tm_query.GetBlockByHeightResponse(
            block_id=block_id, block=block, sdk_block=sdk_block
        )

    async def GetSyncing(
        self, request: tm_query.GetSyncingRequest, context: Any
    ) -> tm_query.GetSyncingResponse:
        await self.gate(context)
        return tm_query.GetSyncingResponse(syncing=False)

    async def GetNodeInfo(
        self, request: tm_query.GetNodeInfoRequest, context: Any
    ) -> tm_query.GetNodeInfoResponse:
        await self.gate(context)
        return tm_query.GetNodeInfoResponse(
            default_node_info=p2p_types.DefaultNodeInfo(
                network=self.state.chain_id,
                version="0.38.5",  # as the RPC status: dydx_devnet.cometrpc.encode.COMETBFT_VERSION
                moniker=f"dydx-devnet-{self.index}",
                listen_addr=self.devnet.grpc_targets[self.index],
            ),
            application_version=tm_query.VersionInfo(
                name="dydxprotocol",
                app_name="dydxprotocold",
                version=APP_VERSION,
            ),
        )


# Every service the node serves: its servicer, its registration on a gRPC server, and its full
# name. The gRPC server (`NodeServer`) and CometBFT RPC's `abci_query` (`cometrpc.abci.routes`)
# both take their services from this one list, so the two transports answer the same paths.
SERVICES: list[tuple[type[Base], Callable[[Any, Any], None], str]] = [
    (TxService, tx_grpc.add_ServiceServicer_to_server, "cosmos.tx.v1beta1.Service"),
    (AuthQuery, auth_grpc.add_QueryServicer_to_server, "cosmos.auth.v1beta1.Query"),
    (BankQuery, bank_grpc.add_QueryServicer_to_server, "cosmos.bank.v1beta1.Query"),
    (
        TendermintService,
        tm_grpc.add_ServiceServicer_to_server,
        "cosmos.base.tendermint.v1beta1.Service",
    ),
    (ClobQuery, clob_grpc.add_QueryServicer_to_server, "dydxprotocol.clob.Query"),
    (PerpetualsQuery, perp_grpc.add_QueryServicer_to_server, "dydxprotocol.perpetuals.Query"),
    (PricesQuery, prices_grpc.add_QueryServicer_to_server, "dydxprotocol.prices.Query"),
    (SubaccountsQuery, sa_grpc.add_QueryServicer_to_server, "dydxprotocol.subaccounts.Query"),
    (FeeTiersQuery, fee_grpc.add_QueryServicer_to_server, "dydxprotocol.feetiers.Query"),
    (
        AccountplusQuery,
        accountplus_grpc.add_QueryServicer_to_server,
        "dydxprotocol.accountplus.Query",
    ),
]


class NodeServer:
    """The grpc.aio server of validator ``index`` with every servicer above."""

    def __init__(self, devnet: DevnetHost, index: int = 0) -> None:
        self.devnet = devnet
        self.index = index
        self._server: grpc.aio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        server = grpc.aio.server()
        for cls, add, _ in SERVICES:
            add(cls(self.devnet, self.index), server)
        bound: int = server.add_insecure_port(f"{host}:{port}")
        if bound == 0:
            raise OSError(f"cannot bind gRPC to {host}:{port}")
        await server.start()
        self._server = server
        return bound

    async def stop(self, grace: float = 0.5) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
