"""The devnet's node: the gRPC services the official clients and the router call.

Served (request/response types are the official `v4_proto` ones):

- `cosmos.tx.v1beta1.Service`: BroadcastTx (SYNC semantics for every mode: the CheckTx result),
  Simulate (``tx_bytes`` or the deprecated ``tx``), GetTx (committed stateful txs only: a
  short-term order tx is never in a block, PROTOCOL.md §0.5);
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
  PROTOCOL.md §7; an unknown subaccount reads as empty, as on the chain);
- `dydxprotocol.feetiers.Query`: PerpetualFeeParams, UserFeeTier.

Every method first consults the fault switches (`dydx_devnet.faults`). The transport is
`dydx_devnet.grpc_server` (gRPC over HTTP/2); the servicers are written as for grpc.aio.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.timestamp_pb2 import Timestamp
from v4_proto.cosmos.auth.v1beta1 import auth_pb2
from v4_proto.cosmos.auth.v1beta1 import query_pb2 as auth_query
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_grpc
from v4_proto.cosmos.bank.v1beta1 import query_pb2 as bank_query
from v4_proto.cosmos.bank.v1beta1 import query_pb2_grpc as bank_grpc
from v4_proto.cosmos.base.abci.v1beta1 import abci_pb2
from v4_proto.cosmos.base.query.v1beta1 import pagination_pb2
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc
from v4_proto.cosmos.base.tendermint.v1beta1 import types_pb2 as tm_sdk_types
from v4_proto.cosmos.base.v1beta1 import coin_pb2
from v4_proto.cosmos.crypto.secp256k1 import keys_pb2
from v4_proto.cosmos.tx.v1beta1 import service_pb2 as tx_service
from v4_proto.cosmos.tx.v1beta1 import service_pb2_grpc as tx_grpc
from v4_proto.cosmos.tx.v1beta1 import tx_pb2
from v4_proto.dydxprotocol.clob import block_rate_limit_config_pb2 as brl_pb2
from v4_proto.dydxprotocol.clob import clob_pair_pb2
from v4_proto.dydxprotocol.clob import equity_tier_limit_config_pb2 as etl_pb2
from v4_proto.dydxprotocol.clob import query_pb2 as clob_query
from v4_proto.dydxprotocol.clob import query_pb2_grpc as clob_grpc
from v4_proto.dydxprotocol.feetiers import params_pb2 as fee_params
from v4_proto.dydxprotocol.feetiers import query_pb2 as fee_query
from v4_proto.dydxprotocol.feetiers import query_pb2_grpc as fee_grpc
from v4_proto.dydxprotocol.perpetuals import perpetual_pb2
from v4_proto.dydxprotocol.perpetuals import query_pb2 as perp_query
from v4_proto.dydxprotocol.perpetuals import query_pb2_grpc as perp_grpc
from v4_proto.dydxprotocol.prices import market_param_pb2, market_price_pb2
from v4_proto.dydxprotocol.prices import query_pb2 as prices_query
from v4_proto.dydxprotocol.prices import query_pb2_grpc as prices_grpc
from v4_proto.dydxprotocol.subaccounts import (
    asset_position_pb2,
    perpetual_position_pb2,
    subaccount_pb2,
)
from v4_proto.dydxprotocol.subaccounts import query_pb2 as sa_query
from v4_proto.dydxprotocol.subaccounts import query_pb2_grpc as sa_grpc
from v4_proto.tendermint.p2p import types_pb2 as p2p_types
from v4_proto.tendermint.types import block_pb2, types_pb2
from v4_proto.tendermint.version import types_pb2 as version_types

from dydx_devnet.errors import TxError
from dydx_devnet.grpc_server import GrpcServer, ServicerContext
from dydx_devnet.model import Market, Subaccount

if TYPE_CHECKING:
    from dydx_devnet.app import Devnet

APP_VERSION = "9.6.1"  # the protocol version whose rules the devnet follows
USDC_DENOM = "ibc/8E27BA2D5493AF5636760E354E46004562C46AB7EC0CC4C1CA14E9E20E2545B5"


def serializable_int(value: int) -> bytes:
    """`dtypes.SerializableInt` (Go big.Int GobEncode): 0x02 (>= 0) or 0x03 (< 0), then the
    big-endian magnitude; zero is b"\\x02" (`protocol/dtypes/serializable_int.go`)."""
    sign = b"\x03" if value < 0 else b"\x02"
    mag = abs(value)
    return sign + (mag.to_bytes((mag.bit_length() + 7) // 8, "big") if mag else b"")


def _page(total: int) -> pagination_pb2.PageResponse:
    return pagination_pb2.PageResponse(total=total)


def _timestamp(ms: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clob_pair_proto(m: Market) -> clob_pair_pb2.ClobPair:
    c = m.clob_pair
    return clob_pair_pb2.ClobPair(
        id=c.id,
        perpetual_clob_metadata=clob_pair_pb2.PerpetualClobMetadata(perpetual_id=c.perpetual_id),
        step_base_quantums=c.step_base_quantums,
        subticks_per_tick=c.subticks_per_tick,
        quantum_conversion_exponent=c.quantum_conversion_exponent,
        status=int(c.status),
    )


def subaccount_proto(s: Subaccount) -> subaccount_pb2.Subaccount:
    assets = (
        [asset_position_pb2.AssetPosition(asset_id=0, quantums=serializable_int(s.usdc_quantums))]
        if s.usdc_quantums
        else []
    )
    return subaccount_pb2.Subaccount(
        id=subaccount_pb2.SubaccountId(owner=s.id.owner, number=s.id.number),
        asset_positions=assets,
        perpetual_positions=[
            perpetual_position_pb2.PerpetualPosition(
                perpetual_id=p.perpetual_id,
                quantums=serializable_int(p.quantums),
                funding_index=serializable_int(p.funding_index),
                quote_balance=serializable_int(p.quote_balance),
            )
            for p in s.perpetual_positions
        ],
        margin_enabled=s.margin_enabled,
    )


class _Base:
    def __init__(self, devnet: Devnet) -> None:
        self.devnet = devnet

    @property
    def state(self) -> Any:
        return self.devnet.state

    async def gate(self, context: ServicerContext) -> None:
        f = self.devnet.faults
        if f.grpc_latency_s > 0:
            await asyncio.sleep(f.grpc_latency_s)
        if f.grpc_unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "devnet fault: node unavailable")
        chosen = f.take_grpc_error() if f.grpc_error is not None else None
        if chosen is not None:
            await context.abort(chosen.code, f"devnet fault: {chosen.message}")


class TxService(_Base, tx_grpc.ServiceServicer):  # type: ignore[misc]
    async def BroadcastTx(
        self, request: tx_service.BroadcastTxRequest, context: Any
    ) -> tx_service.BroadcastTxResponse:
        await self.gate(context)
        faults = self.devnet.faults
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
        r = engine.check_tx(request.tx_bytes)
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
            code=0,
            gas_wanted=ct.gas_wanted,
            gas_used=0,
            tx=AnyProto(type_url="/cosmos.tx.v1beta1.Tx", value=ct.tx_bytes),
            timestamp=_rfc3339(ct.time_ms),
        )
        return tx_service.GetTxResponse(tx=tx, tx_response=resp)


class AuthQuery(_Base, auth_grpc.QueryServicer):  # type: ignore[misc]
    async def Account(
        self, request: auth_query.QueryAccountRequest, context: Any
    ) -> auth_query.QueryAccountResponse:
        await self.gate(context)
        from dydx_devnet.tx import address_error

        if not request.address:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Address cannot be empty")
        err = address_error(request.address)
        if err is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, err)
        acc = self.state.account(request.address)
        if acc is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"account {request.address} not found")
        base = auth_pb2.BaseAccount(
            address=acc.address, account_number=acc.account_number, sequence=acc.sequence
        )
        if acc.pub_key is not None:
            base.pub_key.Pack(keys_pb2.PubKey(key=acc.pub_key), type_url_prefix="/")
        packed = AnyProto()
        packed.Pack(base, type_url_prefix="/")
        return auth_query.QueryAccountResponse(account=packed)


class BankQuery(_Base, bank_grpc.QueryServicer):  # type: ignore[misc]
    async def AllBalances(
        self, request: bank_query.QueryAllBalancesRequest, context: Any
    ) -> bank_query.QueryAllBalancesResponse:
        await self.gate(context)
        return bank_query.QueryAllBalancesResponse(balances=[], pagination=_page(0))

    async def Balance(
        self, request: bank_query.QueryBalanceRequest, context: Any
    ) -> bank_query.QueryBalanceResponse:
        await self.gate(context)
        return bank_query.QueryBalanceResponse(
            balance=coin_pb2.Coin(denom=request.denom, amount="0")
        )


class TendermintService(_Base, tm_grpc.ServiceServicer):  # type: ignore[misc]
    def _block(self, height: int) -> tuple[Any, Any, Any]:
        engine = self.devnet.engine
        time_ms = engine.block_times.get(height)
        if time_ms is None:
            raise KeyError(height)
        block_hash = engine.block_hash(height)
        prev = engine.block_hash(height - 1) if height > 1 else b""
        header = types_pb2.Header(
            version=version_types.Consensus(block=11, app=9),
            chain_id=self.state.chain_id,
            height=height,
            time=_timestamp(time_ms),
            last_block_id=types_pb2.BlockID(hash=prev),
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
                version="0.38.6",
                moniker="dydx-devnet",
                listen_addr=self.devnet.grpc_target,
            ),
            application_version=tm_query.VersionInfo(
                name="dydxprotocol",
                app_name="dydxprotocold",
                version=APP_VERSION,
            ),
        )


class ClobQuery(_Base, clob_grpc.QueryServicer):  # type: ignore[misc]
    async def ClobPair(
        self, request: clob_query.QueryGetClobPairRequest, context: Any
    ) -> clob_query.QueryClobPairResponse:
        await self.gate(context)
        m = self.state.market(request.id)
        if m is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "not found")
        return clob_query.QueryClobPairResponse(clob_pair=clob_pair_proto(m))

    async def ClobPairAll(
        self, request: clob_query.QueryAllClobPairRequest, context: Any
    ) -> clob_query.QueryClobPairAllResponse:
        await self.gate(context)
        pairs = [clob_pair_proto(m) for m in self.state.markets()]
        return clob_query.QueryClobPairAllResponse(clob_pair=pairs, pagination=_page(len(pairs)))

    async def BlockRateLimitConfiguration(
        self, request: clob_query.QueryBlockRateLimitConfigurationRequest, context: Any
    ) -> clob_query.QueryBlockRateLimitConfigurationResponse:
        await self.gate(context)
        cfg = self.state.genesis.block_rate_limits
        return clob_query.QueryBlockRateLimitConfigurationResponse(
            block_rate_limit_config=brl_pb2.BlockRateLimitConfiguration(
                max_short_term_orders_and_cancels_per_n_blocks=[
                    brl_pb2.MaxPerNBlocksRateLimit(num_blocks=r.num_blocks, limit=r.limit)
                    for r in cfg.max_short_term_orders_and_cancels_per_n_blocks
                ],
                max_stateful_orders_per_n_blocks=[
                    brl_pb2.MaxPerNBlocksRateLimit(num_blocks=r.num_blocks, limit=r.limit)
                    for r in cfg.max_stateful_orders_per_n_blocks
                ],
            )
        )

    async def EquityTierLimitConfiguration(
        self, request: clob_query.QueryEquityTierLimitConfigurationRequest, context: Any
    ) -> clob_query.QueryEquityTierLimitConfigurationResponse:
        await self.gate(context)
        tiers = self.state.genesis.stateful_order_equity_tiers
        return clob_query.QueryEquityTierLimitConfigurationResponse(
            equity_tier_limit_config=etl_pb2.EquityTierLimitConfiguration(
                stateful_order_equity_tiers=[
                    etl_pb2.EquityTierLimit(
                        usd_tnc_required=serializable_int(t.usd_tnc_required), limit=t.limit
                    )
                    for t in tiers
                ]
            )
        )


def _perpetual_proto(devnet: Devnet, m: Market) -> perpetual_pb2.Perpetual:
    p = m.perpetual
    state = devnet.state
    return perpetual_pb2.Perpetual(
        params=perpetual_pb2.PerpetualParams(
            id=p.id,
            ticker=p.ticker,
            market_id=p.market_id,
            atomic_resolution=p.atomic_resolution,
            default_funding_ppm=p.default_funding_ppm,
            liquidity_tier=p.liquidity_tier,
            market_type=int(p.market_type),
        ),
        funding_index=serializable_int(state.funding_index(p.id)),
        open_interest=serializable_int(state.open_interest(p.id)),
    )


class PerpetualsQuery(_Base, perp_grpc.QueryServicer):  # type: ignore[misc]
    async def Perpetual(
        self, request: perp_query.QueryPerpetualRequest, context: Any
    ) -> perp_query.QueryPerpetualResponse:
        await self.gate(context)
        m = self.state.market_by_perpetual(request.id)
        if m is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"Perpetual id {request.id} not found.")
        return perp_query.QueryPerpetualResponse(perpetual=_perpetual_proto(self.devnet, m))

    async def AllPerpetuals(
        self, request: perp_query.QueryAllPerpetualsRequest, context: Any
    ) -> perp_query.QueryAllPerpetualsResponse:
        await self.gate(context)
        perps = [_perpetual_proto(self.devnet, m) for m in self.state.markets()]
        return perp_query.QueryAllPerpetualsResponse(perpetual=perps, pagination=_page(len(perps)))

    async def AllLiquidityTiers(
        self, request: perp_query.QueryAllLiquidityTiersRequest, context: Any
    ) -> perp_query.QueryAllLiquidityTiersResponse:
        await self.gate(context)
        tiers = [
            perpetual_pb2.LiquidityTier(
                id=t.id,
                name=t.name,
                initial_margin_ppm=t.initial_margin_ppm,
                maintenance_fraction_ppm=t.maintenance_fraction_ppm,
                impact_notional=t.impact_notional,
            )
            for t in self.state.genesis.liquidity_tiers
        ]
        return perp_query.QueryAllLiquidityTiersResponse(
            liquidity_tiers=tiers, pagination=_page(len(tiers))
        )


class PricesQuery(_Base, prices_grpc.QueryServicer):  # type: ignore[misc]
    def _price(self, market_id: int) -> market_price_pb2.MarketPrice:
        p = self.state.oracle_price(market_id)
        return market_price_pb2.MarketPrice(id=p.id, exponent=p.exponent, price=p.price)

    async def MarketPrice(
        self, request: prices_query.QueryMarketPriceRequest, context: Any
    ) -> prices_query.QueryMarketPriceResponse:
        await self.gate(context)
        if request.id not in self.state.prices:
            await context.abort(grpc.StatusCode.NOT_FOUND, "not found")
        return prices_query.QueryMarketPriceResponse(market_price=self._price(request.id))

    async def AllMarketPrices(
        self, request: prices_query.QueryAllMarketPricesRequest, context: Any
    ) -> prices_query.QueryAllMarketPricesResponse:
        await self.gate(context)
        prices = [self._price(mid) for mid in sorted(self.state.prices)]
        return prices_query.QueryAllMarketPricesResponse(
            market_prices=prices, pagination=_page(len(prices))
        )

    def _param(self, m: Market) -> market_param_pb2.MarketParam:
        p = m.market_param
        return market_param_pb2.MarketParam(
            id=p.id,
            pair=p.pair,
            exponent=p.exponent,
            min_exchanges=p.min_exchanges,
            min_price_change_ppm=p.min_price_change_ppm,
        )

    async def MarketParam(
        self, request: prices_query.QueryMarketParamRequest, context: Any
    ) -> prices_query.QueryMarketParamResponse:
        await self.gate(context)
        m = self.state.market_by_market_id(request.id)
        if m is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "not found")
        return prices_query.QueryMarketParamResponse(market_param=self._param(m))

    async def AllMarketParams(
        self, request: prices_query.QueryAllMarketParamsRequest, context: Any
    ) -> prices_query.QueryAllMarketParamsResponse:
        await self.gate(context)
        params = [self._param(m) for m in self.state.markets()]
        return prices_query.QueryAllMarketParamsResponse(
            market_params=params, pagination=_page(len(params))
        )


class SubaccountsQuery(_Base, sa_grpc.QueryServicer):  # type: ignore[misc]
    async def Subaccount(
        self, request: sa_query.QueryGetSubaccountRequest, context: Any
    ) -> sa_query.QuerySubaccountResponse:
        await self.gate(context)
        from dydx_devnet.model import Subaccount as SubaccountModel
        from dydx_devnet.model import SubaccountId

        s = self.state.subaccount(request.owner, request.number) or SubaccountModel(
            SubaccountId(request.owner, request.number), 0
        )
        return sa_query.QuerySubaccountResponse(subaccount=subaccount_proto(s))

    async def SubaccountAll(
        self, request: sa_query.QueryAllSubaccountRequest, context: Any
    ) -> sa_query.QuerySubaccountAllResponse:
        await self.gate(context)
        subs = [subaccount_proto(s) for s in self.state.subaccounts()]
        return sa_query.QuerySubaccountAllResponse(subaccount=subs, pagination=_page(len(subs)))


class FeeTiersQuery(_Base, fee_grpc.QueryServicer):  # type: ignore[misc]
    def _tier(self, i: int) -> fee_params.PerpetualFeeTier:
        t = self.state.fee_tiers[i]
        return fee_params.PerpetualFeeTier(
            name=t.name,
            absolute_volume_requirement=t.absolute_volume_requirement,
            maker_fee_ppm=t.maker_fee_ppm,
            taker_fee_ppm=t.taker_fee_ppm,
        )

    async def PerpetualFeeParams(
        self, request: fee_query.QueryPerpetualFeeParamsRequest, context: Any
    ) -> fee_query.QueryPerpetualFeeParamsResponse:
        await self.gate(context)
        tiers = [self._tier(i) for i in range(len(self.state.fee_tiers))]
        return fee_query.QueryPerpetualFeeParamsResponse(
            params=fee_params.PerpetualFeeParams(tiers=tiers)
        )

    async def UserFeeTier(
        self, request: fee_query.QueryUserFeeTierRequest, context: Any
    ) -> fee_query.QueryUserFeeTierResponse:
        await self.gate(context)
        return fee_query.QueryUserFeeTierResponse(index=0, tier=self._tier(0))


_SERVICES: list[tuple[type[_Base], Callable[[Any, Any], None]]] = [
    (TxService, tx_grpc.add_ServiceServicer_to_server),
    (AuthQuery, auth_grpc.add_QueryServicer_to_server),
    (BankQuery, bank_grpc.add_QueryServicer_to_server),
    (TendermintService, tm_grpc.add_ServiceServicer_to_server),
    (ClobQuery, clob_grpc.add_QueryServicer_to_server),
    (PerpetualsQuery, perp_grpc.add_QueryServicer_to_server),
    (PricesQuery, prices_grpc.add_QueryServicer_to_server),
    (SubaccountsQuery, sa_grpc.add_QueryServicer_to_server),
    (FeeTiersQuery, fee_grpc.add_QueryServicer_to_server),
]


class NodeServer:
    """The gRPC server with every servicer above."""

    def __init__(self, devnet: Devnet) -> None:
        self.devnet = devnet
        self._server: GrpcServer | None = None

    async def start(self, host: str, port: int) -> int:
        server = GrpcServer()
        for cls, add in _SERVICES:
            add(cls(self.devnet), server)
        bound = await server.start(host, port)
        self._server = server
        return bound

    async def stop(self, grace: float = 0.5) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
