"""The node's query services: auth, bank, clob, perpetuals, prices, subaccounts, fee tiers
(official `v4_proto` request/response types; see `dydx_devnet.node`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
from v4_proto.cosmos.auth.v1beta1 import auth_pb2
from v4_proto.cosmos.auth.v1beta1 import query_pb2 as auth_query
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_grpc
from v4_proto.cosmos.bank.v1beta1 import query_pb2 as bank_query
from v4_proto.cosmos.bank.v1beta1 import query_pb2_grpc as bank_grpc
from v4_proto.cosmos.base.v1beta1 import coin_pb2
from v4_proto.cosmos.crypto.secp256k1 import keys_pb2
from v4_proto.dydxprotocol.clob import block_rate_limit_config_pb2 as brl_pb2
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
from v4_proto.dydxprotocol.subaccounts import query_pb2 as sa_query
from v4_proto.dydxprotocol.subaccounts import query_pb2_grpc as sa_grpc

from dydx_devnet.model import Market

if TYPE_CHECKING:
    pass
from dydx_devnet.node_base import (
    Base,
    clob_pair_proto,
    page,
    perpetual_proto,
    serializable_int,
    subaccount_proto,
)


class AuthQuery(Base, auth_grpc.QueryServicer):  # type: ignore[misc]
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


class BankQuery(Base, bank_grpc.QueryServicer):  # type: ignore[misc]
    async def AllBalances(
        self, request: bank_query.QueryAllBalancesRequest, context: Any
    ) -> bank_query.QueryAllBalancesResponse:
        await self.gate(context)
        return bank_query.QueryAllBalancesResponse(balances=[], pagination=page(0))

    async def Balance(
        self, request: bank_query.QueryBalanceRequest, context: Any
    ) -> bank_query.QueryBalanceResponse:
        await self.gate(context)
        return bank_query.QueryBalanceResponse(
            balance=coin_pb2.Coin(denom=request.denom, amount="0")
        )


class ClobQuery(Base, clob_grpc.QueryServicer):  # type: ignore[misc]
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
        return clob_query.QueryClobPairAllResponse(clob_pair=pairs, pagination=page(len(pairs)))

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


class PerpetualsQuery(Base, perp_grpc.QueryServicer):  # type: ignore[misc]
    async def Perpetual(
        self, request: perp_query.QueryPerpetualRequest, context: Any
    ) -> perp_query.QueryPerpetualResponse:
        await self.gate(context)
        m = self.state.market_by_perpetual(request.id)
        if m is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"Perpetual id {request.id} not found.")
        return perp_query.QueryPerpetualResponse(perpetual=perpetual_proto(self.devnet, m))

    async def AllPerpetuals(
        self, request: perp_query.QueryAllPerpetualsRequest, context: Any
    ) -> perp_query.QueryAllPerpetualsResponse:
        await self.gate(context)
        perps = [perpetual_proto(self.devnet, m) for m in self.state.markets()]
        return perp_query.QueryAllPerpetualsResponse(perpetual=perps, pagination=page(len(perps)))

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
            liquidity_tiers=tiers, pagination=page(len(tiers))
        )


class PricesQuery(Base, prices_grpc.QueryServicer):  # type: ignore[misc]
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
            market_prices=prices, pagination=page(len(prices))
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
            market_params=params, pagination=page(len(params))
        )


class SubaccountsQuery(Base, sa_grpc.QueryServicer):  # type: ignore[misc]
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
        return sa_query.QuerySubaccountAllResponse(subaccount=subs, pagination=page(len(subs)))


class FeeTiersQuery(Base, fee_grpc.QueryServicer):  # type: ignore[misc]
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
