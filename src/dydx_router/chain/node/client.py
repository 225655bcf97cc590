"""The node's queries and broadcast (`NodeClient`), over `NodeTransport` (transport.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

import grpc
from v4_proto.cosmos.auth.v1beta1 import query_pb2 as auth_query
from v4_proto.cosmos.auth.v1beta1.auth_pb2 import BaseAccount
from v4_proto.cosmos.base.query.v1beta1.pagination_pb2 import PageRequest
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.tx.v1beta1 import service_pb2 as tx_service
from v4_proto.dydxprotocol.clob import query_pb2 as clob_query
from v4_proto.dydxprotocol.perpetuals import query_pb2 as perp_query
from v4_proto.dydxprotocol.perpetuals.perpetual_pb2 import PerpetualMarketType
from v4_proto.dydxprotocol.prices import query_pb2 as price_query
from v4_proto.dydxprotocol.subaccounts import query_pb2 as sub_query

from dydx_router.chain.errors import (
    AccountNotFound,
    ChainError,
    ChainQueryFailed,
    TxNotFound,
    rejection,
)
from dydx_router.chain.node.models import (
    Account,
    AssetPositionInfo,
    BlockRateLimits,
    ClobPairInfo,
    LatestBlock,
    OraclePrice,
    PerpetualInfo,
    PerpetualPositionInfo,
    RateLimit,
    SimulateResult,
    SubaccountInfo,
    TxResult,
    _status,
    decode_serializable_int,
)
from dydx_router.chain.node.transport import (
    BASE_ACCOUNT_URL,
    BROADCAST_SYNC,
    PAGE_LIMIT,
    CallState,
    NodeTransport,
    Stubs,
    block_header,
)
from dydx_router.chain.tx import SignedTx
from dydx_router.domain.market import MarketSpec

_SC = grpc.StatusCode


class NodeClient(NodeTransport):
    """Queries and broadcasts against a health-ranked list of validator gRPC endpoints."""

    async def latest_block(self) -> LatestBlock:
        resp = await self._call(
            lambda s: s.tendermint.GetLatestBlock, tm_query.GetLatestBlockRequest()
        )
        header = block_header(resp)
        return LatestBlock(
            height=int(header.height),
            time=header.time.ToDatetime(tzinfo=UTC),
        )

    async def latest_height(self) -> int:
        return (await self.latest_block()).height

    async def account(self, address: str) -> Account:
        """Account number and committed sequence; ``AccountNotFound`` if never funded."""

        def not_found(e: grpc.aio.AioRpcError) -> ChainError | None:
            return AccountNotFound(address) if e.code() is _SC.NOT_FOUND else None

        resp = await self._call(
            lambda s: s.auth.Account,
            auth_query.QueryAccountRequest(address=address),
            on_error=not_found,
        )
        if resp.account.type_url != BASE_ACCOUNT_URL:
            raise ChainQueryFailed(
                f"account {address} is a {resp.account.type_url}, not a BaseAccount"
            )
        base = BaseAccount.FromString(resp.account.value)
        return Account(
            address=base.address, account_number=base.account_number, sequence=base.sequence
        )

    async def _paged(
        self, rpc: Callable[[Stubs], Callable[..., Awaitable[Any]]], make: Any, field: str
    ) -> list[Any]:
        items: list[Any] = []
        key = b""
        while True:
            resp = await self._call(rpc, make(pagination=PageRequest(key=key, limit=PAGE_LIMIT)))
            items.extend(getattr(resp, field))
            key = resp.pagination.next_key
            if not key:
                return items

    async def clob_pairs(self) -> list[ClobPairInfo]:
        pairs = await self._paged(
            lambda s: s.clob.ClobPairAll, clob_query.QueryAllClobPairRequest, "clob_pair"
        )
        return [
            ClobPairInfo(
                id=p.id,
                perpetual_id=p.perpetual_clob_metadata.perpetual_id,
                step_base_quantums=p.step_base_quantums,
                subticks_per_tick=p.subticks_per_tick,
                quantum_conversion_exponent=p.quantum_conversion_exponent,
                status=_status(p.status),
            )
            for p in pairs
        ]

    async def perpetuals(self) -> list[PerpetualInfo]:
        perps = await self._paged(
            lambda s: s.perpetuals.AllPerpetuals,
            perp_query.QueryAllPerpetualsRequest,
            "perpetual",
        )
        return [
            PerpetualInfo(
                id=p.params.id,
                ticker=p.params.ticker,
                market_id=p.params.market_id,
                atomic_resolution=p.params.atomic_resolution,
                liquidity_tier=p.params.liquidity_tier,
                market_type=PerpetualMarketType.Name(p.params.market_type).removeprefix(
                    "PERPETUAL_MARKET_TYPE_"
                ),
            )
            for p in perps
        ]

    async def market_specs(self) -> dict[str, MarketSpec]:
        """Every perpetual ClobPair as a :class:`MarketSpec`, keyed by ticker."""
        pairs = await self.clob_pairs()
        perps = {p.id: p for p in await self.perpetuals()}
        specs: dict[str, MarketSpec] = {}
        for pair in pairs:
            perp = perps.get(pair.perpetual_id)
            if perp is None:
                continue  # a spot pair or one whose perpetual is gone: not tradable here
            specs[perp.ticker] = MarketSpec(
                ticker=perp.ticker,
                clob_pair_id=pair.id,
                atomic_resolution=perp.atomic_resolution,
                quantum_conversion_exponent=pair.quantum_conversion_exponent,
                step_base_quantums=pair.step_base_quantums,
                subticks_per_tick=pair.subticks_per_tick,
                status=pair.status,
            )
        return specs

    async def market_prices(self) -> list[OraclePrice]:
        prices = await self._paged(
            lambda s: s.prices.AllMarketPrices,
            price_query.QueryAllMarketPricesRequest,
            "market_prices",
        )
        return [OraclePrice(market_id=p.id, exponent=p.exponent, price=p.price) for p in prices]

    async def subaccount(self, owner: str, number: int = 0) -> SubaccountInfo:
        resp = await self._call(
            lambda s: s.subaccounts.Subaccount,
            sub_query.QueryGetSubaccountRequest(owner=owner, number=number),
        )
        sub = resp.subaccount
        return SubaccountInfo(
            owner=sub.id.owner or owner,
            number=sub.id.number,
            asset_positions=tuple(
                AssetPositionInfo(a.asset_id, decode_serializable_int(a.quantums))
                for a in sub.asset_positions
            ),
            perpetual_positions=tuple(
                PerpetualPositionInfo(
                    perpetual_id=p.perpetual_id,
                    quantums=decode_serializable_int(p.quantums),
                    funding_index=decode_serializable_int(p.funding_index),
                    quote_balance=decode_serializable_int(p.quote_balance),
                )
                for p in sub.perpetual_positions
            ),
            margin_enabled=sub.margin_enabled,
        )

    async def block_rate_limits(self) -> BlockRateLimits:
        resp = await self._call(
            lambda s: s.clob.BlockRateLimitConfiguration,
            clob_query.QueryBlockRateLimitConfigurationRequest(),
        )
        cfg = resp.block_rate_limit_config

        def limits(items: Any) -> tuple[RateLimit, ...]:
            return tuple(RateLimit(limit=i.limit, num_blocks=i.num_blocks) for i in items)

        return BlockRateLimits(
            short_term_orders=limits(cfg.max_short_term_orders_per_n_blocks),
            stateful_orders=limits(cfg.max_stateful_orders_per_n_blocks),
            short_term_cancels=limits(cfg.max_short_term_order_cancellations_per_n_blocks),
            short_term_orders_and_cancels=limits(
                cfg.max_short_term_orders_and_cancels_per_n_blocks
            ),
        )

    async def simulate(self, tx: SignedTx | bytes) -> SimulateResult:
        tx_bytes = tx.tx_bytes if isinstance(tx, SignedTx) else tx
        resp = await self._call(
            lambda s: s.tx.Simulate, tx_service.SimulateRequest(tx_bytes=tx_bytes)
        )
        return SimulateResult(gas_wanted=resp.gas_info.gas_wanted, gas_used=resp.gas_info.gas_used)

    async def broadcast(self, tx: SignedTx) -> str:
        """BroadcastTx (SYNC): returns the tx hash once CheckTx accepted it.

        A non-zero CheckTx code raises the typed rejection (``chain.errors.rejection``). Code 0
        means "accepted into the mempool/memclob", not "filled" (dydxprotocol/v4-clients #238).
        """

        def check(resp: Any, state: CallState) -> str:
            r = resp.tx_response
            tx_hash = r.txhash or tx.tx_hash
            if r.code != 0:
                # After an attempt whose outcome was unknown every refusal answers a re-send,
                # which chain/answers.py reads apart. sdk/19 then says only that a node saw
                # these bytes, not that it accepted them (it caches rejected txs too).
                err = rejection(r.codespace, r.code, r.raw_log, tx_hash=tx_hash)
                err.resent = state.maybe_sent
                raise err
            return str(tx_hash).upper()

        result: str = await self._call(
            lambda s: s.tx.BroadcastTx,
            tx_service.BroadcastTxRequest(tx_bytes=tx.tx_bytes, mode=BROADCAST_SYNC),
            deadline=self._broadcast_timeout,
            check=check,
        )
        return result

    async def latest_block_and_tx(self, tx_hash: str) -> tuple[LatestBlock, TxResult | None]:
        """One node's latest block, then the same node's answer for ``tx_hash`` (None: in none
        of its blocks). One endpoint answers both, in that order, so the tx is in no block up to
        the one returned as that node knows them; a lagging second node could have missed it."""

        async def both(stubs: Stubs, deadline: float) -> tuple[Any, Any]:
            block = await stubs.tendermint.GetLatestBlock(
                tm_query.GetLatestBlockRequest(), timeout=deadline
            )
            try:
                found = await stubs.tx.GetTx(
                    tx_service.GetTxRequest(hash=tx_hash), timeout=deadline
                )
            except grpc.aio.AioRpcError as e:
                if e.code() is not _SC.NOT_FOUND:
                    raise
                found = None
            return block, found

        block, found = await self._call(
            lambda s: lambda _request, *, timeout: both(s, timeout), tx_hash
        )
        header = block_header(block)
        latest = LatestBlock(height=int(header.height), time=header.time.ToDatetime(tzinfo=UTC))
        if found is None:
            return latest, None
        r = found.tx_response
        tx = TxResult(
            tx_hash=r.txhash, height=r.height, code=r.code, codespace=r.codespace, raw_log=r.raw_log
        )
        return latest, tx

    async def get_tx(self, tx_hash: str) -> TxResult:
        """A committed tx by hash; ``TxNotFound`` if unknown (short-term txs are never found)."""

        def not_found(e: grpc.aio.AioRpcError) -> ChainError | None:
            if e.code() is _SC.NOT_FOUND:
                return TxNotFound(f"tx {tx_hash} not found", tx_hash=tx_hash)
            return None

        resp = await self._call(
            lambda s: s.tx.GetTx, tx_service.GetTxRequest(hash=tx_hash), on_error=not_found
        )
        r = resp.tx_response
        return TxResult(
            tx_hash=r.txhash, height=r.height, code=r.code, codespace=r.codespace, raw_log=r.raw_log
        )
