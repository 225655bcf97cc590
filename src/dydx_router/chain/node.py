"""Validator node client over ``grpc.aio`` with health-scored endpoints, breakers and failover.

Every call carries a deadline. Transport failures (UNAVAILABLE, DEADLINE_EXCEEDED,
RESOURCE_EXHAUSTED — public nodes throttle, PROTOCOL.md §11.13 — and UNIMPLEMENTED, an endpoint
that is not a dYdX node) move to the next endpoint and repeat the *same* request there; a
broadcast is repeated with the same bytes, so a failover never creates a second order. When every
endpoint has failed, the call is retried with exponential backoff and jitter inside a total time
budget (``chain/resilience.py``), then raises :class:`ChainUnavailable` (or :class:`ChainTimeout`,
whose outcome is unknown for a broadcast). Other statuses are translated into the typed errors of
``chain/errors.py``; nothing here lets a ``grpc.aio.AioRpcError`` escape.

Endpoints are ranked by health (latency, errors, block-height lag) and each has a circuit breaker:
while every breaker is open a call fails at once with ``ChainUnavailable`` (``circuit_open``)
instead of waiting for a deadline. :meth:`NodeClient.monitor` probes every endpoint in the
background (the half-open probes, latency and height lag), so the request path never pays for it.

The blocking stubs are never used: ``v4_proto`` stubs are bound to ``grpc.aio`` channels, so
every method returns an awaitable (the official client's async methods block, PROTOCOL.md §0.8).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import grpc
import structlog
from v4_proto.cosmos.auth.v1beta1 import query_pb2 as auth_query
from v4_proto.cosmos.auth.v1beta1 import query_pb2_grpc as auth_grpc
from v4_proto.cosmos.auth.v1beta1.auth_pb2 import BaseAccount
from v4_proto.cosmos.base.query.v1beta1.pagination_pb2 import PageRequest
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2 as tm_query
from v4_proto.cosmos.base.tendermint.v1beta1 import query_pb2_grpc as tm_grpc
from v4_proto.cosmos.tx.v1beta1 import service_pb2 as tx_service
from v4_proto.cosmos.tx.v1beta1 import service_pb2_grpc as tx_grpc
from v4_proto.dydxprotocol.clob import query_pb2 as clob_query
from v4_proto.dydxprotocol.clob import query_pb2_grpc as clob_grpc
from v4_proto.dydxprotocol.clob.clob_pair_pb2 import ClobPair
from v4_proto.dydxprotocol.perpetuals import query_pb2 as perp_query
from v4_proto.dydxprotocol.perpetuals import query_pb2_grpc as perp_grpc
from v4_proto.dydxprotocol.perpetuals.perpetual_pb2 import PerpetualMarketType
from v4_proto.dydxprotocol.prices import query_pb2 as price_query
from v4_proto.dydxprotocol.prices import query_pb2_grpc as price_grpc
from v4_proto.dydxprotocol.subaccounts import query_pb2 as sub_query
from v4_proto.dydxprotocol.subaccounts import query_pb2_grpc as sub_grpc

from dydx_router.chain.errors import (
    AccountNotFound,
    ChainError,
    ChainQueryFailed,
    ChainTimeout,
    ChainUnavailable,
    TxNotFound,
    rejection,
)
from dydx_router.chain.resilience import (
    EndpointPool,
    HealthPolicy,
    RetryPolicy,
    call_with_retries,
    circuit_open_error,
)
from dydx_router.chain.tx import SignedTx
from dydx_router.domain.market import ClobPairStatus, MarketSpec

log = structlog.get_logger(__name__)

_SC = grpc.StatusCode
# Statuses that say "this endpoint cannot serve you now", not "your request is wrong".
_FAILOVER = frozenset(
    {_SC.UNAVAILABLE, _SC.DEADLINE_EXCEEDED, _SC.RESOURCE_EXHAUSTED, _SC.UNIMPLEMENTED}
)
_BASE_ACCOUNT_URL = "/cosmos.auth.v1beta1.BaseAccount"
_PAGE_LIMIT = 1000
# cosmos.tx.v1beta1.BroadcastMode: SYNC returns the CheckTx result (PROTOCOL.md §3e).
_BROADCAST_SYNC = tx_service.BroadcastMode.BROADCAST_MODE_SYNC
# gRPC's own reconnect backoff grows to 120 s by default; the breakers already pace the attempts
# on a failing endpoint, so a recovered node must be reachable within seconds, not minutes.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


class Endpoint(Protocol):
    """A gRPC endpoint (``config.NodeEndpoint`` is one): ``host:port`` and whether to use TLS."""

    @property
    def target(self) -> str: ...

    @property
    def tls(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class GrpcEndpoint:
    target: str
    tls: bool = False


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatestBlock:
    height: int
    time: datetime


@dataclass(frozen=True, slots=True)
class Account:
    address: str
    account_number: int
    sequence: int


@dataclass(frozen=True, slots=True)
class ClobPairInfo:
    id: int
    perpetual_id: int
    step_base_quantums: int
    subticks_per_tick: int
    quantum_conversion_exponent: int
    status: ClobPairStatus


@dataclass(frozen=True, slots=True)
class PerpetualInfo:
    id: int
    ticker: str
    market_id: int
    atomic_resolution: int
    liquidity_tier: int
    market_type: str  # CROSS | ISOLATED


@dataclass(frozen=True, slots=True)
class OraclePrice:
    market_id: int
    exponent: int
    price: int

    @property
    def human(self) -> Decimal:
        """Oracle price in USD: price × 10^exponent (exact)."""
        return Decimal(f"{self.price}E{self.exponent}")


@dataclass(frozen=True, slots=True)
class AssetPositionInfo:
    asset_id: int
    quantums: int  # signed


@dataclass(frozen=True, slots=True)
class PerpetualPositionInfo:
    perpetual_id: int
    quantums: int  # signed: negative is short
    funding_index: int
    quote_balance: int


@dataclass(frozen=True, slots=True)
class SubaccountInfo:
    owner: str
    number: int
    asset_positions: tuple[AssetPositionInfo, ...]
    perpetual_positions: tuple[PerpetualPositionInfo, ...]
    margin_enabled: bool


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int
    num_blocks: int


@dataclass(frozen=True, slots=True)
class BlockRateLimits:
    short_term_orders: tuple[RateLimit, ...]
    stateful_orders: tuple[RateLimit, ...]
    short_term_cancels: tuple[RateLimit, ...]
    short_term_orders_and_cancels: tuple[RateLimit, ...]


@dataclass(frozen=True, slots=True)
class SimulateResult:
    gas_wanted: int
    gas_used: int


@dataclass(frozen=True, slots=True)
class TxResult:
    tx_hash: str
    height: int
    code: int
    codespace: str
    raw_log: str


def decode_serializable_int(raw: bytes) -> int:
    """``dtypes.SerializableInt`` (Go ``big.Int.GobEncode``): 0x02/0x03 sign byte, big-endian."""
    if not raw:
        return 0
    magnitude = int.from_bytes(raw[1:], "big")
    if raw[0] == 0x03:
        return -magnitude
    if raw[0] != 0x02:
        raise ChainQueryFailed(f"unexpected SerializableInt header byte {raw[0]:#x}")
    return magnitude


def _status(value: int) -> ClobPairStatus:
    return ClobPairStatus(ClobPair.Status.Name(value).removeprefix("STATUS_"))


@dataclass(slots=True)
class _Stubs:
    channel: Any
    tx: Any
    auth: Any
    tendermint: Any
    clob: Any
    perpetuals: Any
    prices: Any
    subaccounts: Any


# --- client ----------------------------------------------------------------------------------


class _CallState:
    """Per-call facts the retry loop carries: did an earlier attempt possibly reach a node?"""

    __slots__ = ("maybe_sent",)

    def __init__(self) -> None:
        self.maybe_sent = False


class NodeClient:
    """Queries and broadcasts against a health-ranked list of validator gRPC endpoints."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        timeout: float = 5.0,
        broadcast_timeout: float = 10.0,
        tls_root_certificates: bytes | None = None,
        health: HealthPolicy | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """``timeout``/``broadcast_timeout``: the deadline of one attempt; ``retry.budget_s``
        bounds a whole call, retries included. ``tls_root_certificates``: PEM roots for TLS
        endpoints (default: the system's)."""
        if not endpoints:
            raise ValueError("at least one node endpoint is required")
        self._endpoints = list(endpoints)
        self._pool: EndpointPool[Endpoint] = EndpointPool(
            self._endpoints, [ep.target for ep in self._endpoints], health, upstream="node"
        )
        self._timeout = timeout
        self._broadcast_timeout = broadcast_timeout
        self._retry = retry or RetryPolicy(budget_s=max(timeout, broadcast_timeout))
        self._tls_roots = tls_root_certificates
        self._stubs: dict[int, _Stubs] = {}

    async def __aenter__(self) -> NodeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        stubs, self._stubs = self._stubs, {}
        for s in stubs.values():
            await s.channel.close()

    @property
    def current_endpoint(self) -> str:
        return self._endpoints[self._pool.current].target

    @property
    def pool(self) -> EndpointPool[Endpoint]:
        """Breakers and health of every endpoint (read-only use: readiness, metrics)."""
        return self._pool

    def unavailable_for(self) -> float | None:
        """None if a call could go out now; else seconds until an endpoint may be tried."""
        return self._pool.unavailable_for()

    def _stubs_for(self, index: int) -> _Stubs:
        stubs = self._stubs.get(index)
        if stubs is None:
            ep = self._endpoints[index]
            # Channels are created lazily, inside the running loop they belong to.
            channel = (
                grpc.aio.secure_channel(
                    ep.target,
                    grpc.ssl_channel_credentials(root_certificates=self._tls_roots),
                    options=_CHANNEL_OPTIONS,
                )
                if ep.tls
                else grpc.aio.insecure_channel(ep.target, options=_CHANNEL_OPTIONS)
            )
            stubs = _Stubs(
                channel=channel,
                tx=tx_grpc.ServiceStub(channel),
                auth=auth_grpc.QueryStub(channel),
                tendermint=tm_grpc.ServiceStub(channel),
                clob=clob_grpc.QueryStub(channel),
                perpetuals=perp_grpc.QueryStub(channel),
                prices=price_grpc.QueryStub(channel),
                subaccounts=sub_grpc.QueryStub(channel),
            )
            self._stubs[index] = stubs
        return stubs

    async def _call(
        self,
        rpc: Callable[[_Stubs], Callable[..., Awaitable[Any]]],
        request: Any,
        *,
        deadline: float | None = None,
        on_error: Callable[[grpc.aio.AioRpcError], ChainError | None] | None = None,
        check: Callable[[Any, _CallState], Any] | None = None,
    ) -> Any:
        """One logical call: failover across endpoints, then retries within the budget.

        The first attempt runs without any retry machinery (the hot path); only after it failed
        with a retryable error does tenacity take over.
        """
        state = _CallState()

        def attempt(limit: float) -> Awaitable[Any]:
            return self._attempt(rpc, request, limit, on_error, check, state)

        return await call_with_retries(
            self._retry, attempt, self._timeout if deadline is None else deadline
        )

    async def _attempt(
        self,
        rpc: Callable[[_Stubs], Callable[..., Awaitable[Any]]],
        request: Any,
        deadline: float,
        on_error: Callable[[grpc.aio.AioRpcError], ChainError | None] | None,
        check: Callable[[Any, _CallState], Any] | None,
        state: _CallState,
    ) -> Any:
        pool = self._pool
        last: grpc.aio.AioRpcError | None = None
        for index in pool.candidates():
            began = time.monotonic()
            try:
                response = await rpc(self._stubs_for(index))(request, timeout=deadline)
            except grpc.aio.AioRpcError as e:
                if e.code() in _FAILOVER:
                    last = e
                    pool.failed(index)
                    state.maybe_sent = True
                    log.warning(
                        "node_endpoint_failed",
                        endpoint=self._endpoints[index].target,
                        status=e.code().name,
                    )
                    continue
                pool.succeeded(index, time.monotonic() - began)  # it answered: it is up
                mapped = on_error(e) if on_error else None
                raise (mapped or _query_failed(e)) from e
            pool.succeeded(index, time.monotonic() - began)
            return response if check is None else check(response, state)
        if last is None:
            wait = pool.retry_after()
            raise circuit_open_error(ChainUnavailable, "node", pool, wait)
        targets = ", ".join(ep.target for ep in self._endpoints)
        cls = ChainTimeout if last.code() is _SC.DEADLINE_EXCEEDED else ChainUnavailable
        raise cls(
            f"no node endpoint answered ({targets}): {last.code().name}",
            status=last.code().name,
        ) from last

    # --- health monitor ------------------------------------------------------------------

    async def monitor(
        self,
        *,
        interval: float = 0.5,
        probe_timeout: float = 1.0,
        on_height: Callable[[int], None] | None = None,
    ) -> None:
        """Probe every endpoint forever (a background task): GetLatestBlock on each measures
        latency and height lag, and is the half-open probe of an open breaker. ``on_height``
        receives the best height of each round in which some endpoint answered."""
        pool = self._pool
        pool.traffic_probes = False  # probes are ours now: no request waits on a sick endpoint
        try:
            while True:
                results = await asyncio.gather(
                    *(self._probe(i, probe_timeout) for i in range(len(pool)))
                )
                pool.rerank()
                heights = [h for h in results if h is not None]
                if heights and on_height is not None:
                    on_height(max(heights))
                await asyncio.sleep(interval)
        finally:
            pool.traffic_probes = True

    async def _probe(self, index: int, deadline: float) -> int | None:
        if not self._pool.health[index].breaker.closed and not self._pool.claim_probe(index):
            return None
        began = time.monotonic()
        try:
            resp = await self._stubs_for(index).tendermint.GetLatestBlock(
                tm_query.GetLatestBlockRequest(), timeout=deadline
            )
        except grpc.aio.AioRpcError as e:
            self._pool.failed(index)
            log.debug(
                "node_probe_failed", endpoint=self._endpoints[index].target, status=e.code().name
            )
            return None
        height = int(_header(resp).height)
        self._pool.succeeded(index, time.monotonic() - began, height)
        return height

    # --- queries -------------------------------------------------------------------------

    async def latest_block(self) -> LatestBlock:
        resp = await self._call(
            lambda s: s.tendermint.GetLatestBlock, tm_query.GetLatestBlockRequest()
        )
        header = _header(resp)
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
        if resp.account.type_url != _BASE_ACCOUNT_URL:
            raise ChainQueryFailed(
                f"account {address} is a {resp.account.type_url}, not a BaseAccount"
            )
        base = BaseAccount.FromString(resp.account.value)
        return Account(
            address=base.address, account_number=base.account_number, sequence=base.sequence
        )

    async def _paged(
        self, rpc: Callable[[_Stubs], Callable[..., Awaitable[Any]]], make: Any, field: str
    ) -> list[Any]:
        items: list[Any] = []
        key = b""
        while True:
            resp = await self._call(rpc, make(pagination=PageRequest(key=key, limit=_PAGE_LIMIT)))
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

    # --- txs -----------------------------------------------------------------------------

    async def simulate(self, tx: SignedTx | bytes) -> SimulateResult:
        tx_bytes = tx.tx_bytes if isinstance(tx, SignedTx) else tx
        resp = await self._call(
            lambda s: s.tx.Simulate, tx_service.SimulateRequest(tx_bytes=tx_bytes)
        )
        return SimulateResult(gas_wanted=resp.gas_info.gas_wanted, gas_used=resp.gas_info.gas_used)

    async def broadcast(self, tx: SignedTx) -> str:
        """BroadcastTx (SYNC): returns the tx hash once CheckTx accepted it.

        A non-zero CheckTx code raises the typed rejection (``chain.errors.rejection``). Code 0
        means "accepted into the mempool/memclob", not "filled" (PROTOCOL.md §0.5, §11.3).
        """

        def check(resp: Any, state: _CallState) -> str:
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
            tx_service.BroadcastTxRequest(tx_bytes=tx.tx_bytes, mode=_BROADCAST_SYNC),
            deadline=self._broadcast_timeout,
            check=check,
        )
        return result

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


def _header(resp: Any) -> Any:
    return resp.sdk_block.header if resp.HasField("sdk_block") else resp.block.header


def _query_failed(e: grpc.aio.AioRpcError) -> ChainQueryFailed:
    return ChainQueryFailed(
        f"node query failed: {e.code().name}: {e.details()}", status=e.code().name
    )
